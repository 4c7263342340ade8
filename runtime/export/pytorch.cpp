// The Python source of an exported architecture. It mirrors the runtime's construction
// (runtime/ops/modules.cpp for each primitive, runtime/supernet/network.cpp for cells and the
// network) module for module, so that parameter names differ only in their prefixes and the
// logits agree to float rounding; a test runs the generated file's self-check.
#include "runtime/export/pytorch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

#include "compiler/ir/analysis.h"
#include "compiler/ir/subspace.h"
#include "compiler/lower/lower.h"

namespace cella::exporter {

namespace {

// Helpers the generated modules use; each mirrors the runtime module of the same name.
constexpr const char* kPrelude = R"PY(import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Zero(nn.Module):
    """The `none` operation: zeros, of 1/stride the resolution."""

    def __init__(self, stride=1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halves the resolution with two 1x1 convolutions, the second starting one pixel in (DARTS)."""

    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        y = F.relu(x)
        shifted = y[:, :, 1:, 1:]
        if y.size(2) % 2 == 1:
            shifted = F.pad(shifted, (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(y), self.conv_2(shifted)], dim=1))


def skip(C_in, stride=1, out=None, affine=True):
    """The identity, or a factorized reduce where the resolution or the width changes."""
    out = C_in if out is None else out
    if stride == 1 and out == C_in:
        return nn.Identity()
    return FactorizedReduce(C_in, out, affine)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


def relu_conv_bn(C_in, C_out, k, stride, pad):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C_in, C_out, k, stride, pad, bias=False), nn.BatchNorm2d(C_out))


class ResBlock(nn.Module):
    """NAS-Bench-201's residual block between stages."""

    def __init__(self, C_in, C_out, stride=1):
        super().__init__()
        self.conv_a = relu_conv_bn(C_in, C_out, 3, stride, 1)
        self.conv_b = relu_conv_bn(C_out, C_out, 3, 1, 1)
        if stride == 2:
            self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(C_in, C_out, 1, bias=False))
        elif C_in != C_out:
            self.shortcut = relu_conv_bn(C_in, C_out, 1, 1, 0)
        else:
            self.shortcut = None

    def forward(self, x):
        y = self.conv_b(self.conv_a(x))
        return (self.shortcut(x) if self.shortcut is not None else x) + y


class MBConv(nn.Module):
    """MobileNetV2's inverted residual: expand 1x1, depthwise kxk, (squeeze-excite), project 1x1."""

    def __init__(self, C_in, C_out, k, e, stride=1, se=False, affine=True):
        super().__init__()
        mid = C_in * e
        layers = []
        if e != 1:
            layers += [nn.Conv2d(C_in, mid, 1, bias=False), nn.BatchNorm2d(mid, affine=affine), nn.ReLU6()]
        layers += [nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
                   nn.BatchNorm2d(mid, affine=affine), nn.ReLU6()]
        self.body = nn.Sequential(*layers)
        if se:
            red = max(8, mid // 4)
            self.se = nn.Sequential(GlobalAvgPool(), nn.Linear(mid, red), nn.ReLU(), nn.Linear(red, mid), nn.Sigmoid())
        else:
            self.se = None
        self.project = nn.Conv2d(mid, C_out, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(C_out, affine=affine)
        self.residual = stride == 1 and C_in == C_out

    def forward(self, x):
        y = self.body(x)
        if self.se is not None:
            y = y * self.se(y)[:, :, None, None]
        y = self.project_bn(self.project(y))
        return x + y if self.residual else y


def make_divisible(v, divisor=8):
    """OFA's make_divisible: the nearest multiple of `divisor`, at least `divisor`, not below 0.9 v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class MBV3(nn.Module):
    """OFA's MobileNetV3 block at one kernel size and expansion (cella's `mbv3`, one sub-shape of an
    elastic layer): 1x1 expand to make_divisible(C_in e) (none at e = 1), kxk depthwise,
    squeeze-and-excitation (make_divisible(mid / 4) hidden, hard sigmoid), 1x1 project, and the
    identity shortcut where the stride is 1 and the widths agree. Its tensors carry the names of
    cella's elastic block, so that an extracted child's weights load as they are."""

    def __init__(self, C_in, C_out, k, e, stride=1, se=False, hswish=False, swish=False, affine=True):
        super().__init__()
        mid = make_divisible(round(C_in * e)) if e != 1 else C_in
        self.k, self.stride, self.hswish, self.swish, self.se = k, stride, hswish, swish, se
        self.residual = stride == 1 and C_in == C_out
        self.expand_weight = nn.Parameter(torch.randn(mid, C_in, 1, 1) * 0.1) if e != 1 else None
        self.expand_bn = nn.BatchNorm2d(mid, affine=affine) if e != 1 else None
        self.depthwise_weight = nn.Parameter(torch.randn(mid, 1, k, k) * 0.1)
        self.depthwise_bn = nn.BatchNorm2d(mid, affine=affine)
        if se:
            hidden = make_divisible(mid // 4)
            self.se_reduce_weight = nn.Parameter(torch.randn(hidden, mid) * 0.1)
            self.se_reduce_bias = nn.Parameter(torch.zeros(hidden))
            self.se_expand_weight = nn.Parameter(torch.randn(mid, hidden) * 0.1)
            self.se_expand_bias = nn.Parameter(torch.zeros(mid))
        self.project_weight = nn.Parameter(torch.randn(C_out, mid, 1, 1) * 0.1)
        self.project_bn = nn.BatchNorm2d(C_out, affine=affine)

    def act(self, x):
        return F.hardswish(x) if self.hswish else F.silu(x) if self.swish else F.relu(x)

    def forward(self, x):
        y = x
        if self.expand_weight is not None:
            y = self.act(self.expand_bn(F.conv2d(x, self.expand_weight)))
        y = F.conv2d(y, self.depthwise_weight, None, self.stride, self.k // 2, 1, y.size(1))
        y = self.act(self.depthwise_bn(y))
        if self.se:
            g = F.relu(F.linear(y.mean((2, 3)), self.se_reduce_weight, self.se_reduce_bias))
            g = F.hardsigmoid(F.linear(g, self.se_expand_weight, self.se_expand_bias))
            y = y * g[:, :, None, None]
        y = self.project_bn(F.conv2d(y, self.project_weight))
        return x + y if self.residual else y


def resize(x, side):
    """The input at `side` x `side` pixels (bicubic), as cella resizes it for a resolution choice."""
    if x.size(-1) == side and x.size(-2) == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False)


def zeros_of(ref, C, f):
    """What a node with no kept input computes: zeros of its width, at 1/f of the cell's resolution."""
    return ref.new_zeros(ref.size(0), C, -(-ref.size(2) // f), -(-ref.size(3) // f))

)PY";

// A Python identifier from a cella name: letters, digits and '_'.
std::string identifier(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

// "nb201_cell" -> "Nb201Cell".
std::string class_name(const std::string& s) {
  std::string out;
  bool upper = true;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "Cell" + out;
  return out;
}

std::string py_bool(bool b) { return b ? "True" : "False"; }

// A Python string literal.
std::string python_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// One primitive call as a Python expression on `in` input channels (a number or a symbol such
// as "C"); `out` receives the output channels' expression. Defaults are the runtime's.
// `affine`: whether its batch norms have weights (not inside a supernet's cells).
std::string primitive(const ir::PrimCall& c, const std::string& in, std::string& out, bool affine) {
  auto i = [&](const char* n, std::int64_t d) { return c.int_arg(n, d); };
  auto out_of = [&]() -> std::string { return c.arg("out") ? std::to_string(i("out", 0)) : in; };
  // Keyword arguments that differ from PyTorch's defaults, for a readable file.
  auto kw = [&](const char* name, std::int64_t value, std::int64_t fallback) {
    return value == fallback ? std::string() : fmt::format(", {}={}", name, value);
  };
  const std::string no_affine = affine ? "" : ", affine=False";
  out = in;
  const std::string& p = c.prim;
  if (p == "zero") return fmt::format("Zero({})", i("stride", 1));
  if (p == "identity") return "nn.Identity()";
  if (p == "skip") {
    out = out_of();
    return fmt::format("skip({}{}{}{})", in, kw("stride", i("stride", 1), 1), out == in ? "" : ", out=" + out,
                       no_affine);
  }
  if (p == "relu") return "nn.ReLU()";
  if (p == "relu6") return "nn.ReLU6()";
  if (p == "hswish") return "nn.Hardswish()";
  if (p == "swish") return "nn.SiLU()";
  if (p == "sigmoid") return "nn.Sigmoid()";
  if (p == "bn") return fmt::format("nn.BatchNorm2d({}{})", in, no_affine);
  if (p == "search_bn") return fmt::format("nn.BatchNorm2d({}, affine=False)", in);
  if (p == "conv") {
    out = out_of();
    return fmt::format("nn.Conv2d({}, {}, {}{}{}{}{}, bias={})", in, out, i("k", 1), kw("stride", i("stride", 1), 1),
                       kw("padding", i("pad", 0), 0), kw("dilation", i("dilation", 1), 1),
                       kw("groups", i("groups", 1), 1), py_bool(c.bool_arg("bias", false)));
  }
  if (p == "conv_1xk_kx1") {
    out = out_of();
    const std::int64_t k = i("k", 1), s = i("stride", 1);
    return fmt::format(
        "nn.Sequential(nn.Conv2d({0}, {1}, (1, {2}), stride=(1, {3}), padding=(0, {4}), bias=False), "
        "nn.Conv2d({1}, {1}, ({2}, 1), stride=({3}, 1), padding=({4}, 0), bias=False))",
        in, out, k, s, k / 2);
  }
  if (p == "dwconv")
    return fmt::format("nn.Conv2d({0}, {0}, {1}{2}{3}{4}, groups={0}, bias=False)", in, i("k", 1),
                       kw("stride", i("stride", 1), 1), kw("padding", i("pad", 0), 0),
                       kw("dilation", i("dilation", 1), 1));
  // Pooling: PyTorch's stride defaults to the kernel size, so it is always written.
  if (p == "avg_pool")
    return fmt::format("nn.AvgPool2d({}, stride={}{}{})", i("k", 1), i("stride", 1), kw("padding", i("pad", 0), 0),
                       c.bool_arg("count_include_pad", false) ? "" : ", count_include_pad=False");
  if (p == "max_pool")
    return fmt::format("nn.MaxPool2d({}, stride={}{})", i("k", 1), i("stride", 1), kw("padding", i("pad", 0), 0));
  if (p == "global_avg_pool") return "GlobalAvgPool()";
  if (p == "linear") {
    out = out_of();
    return fmt::format("nn.Linear({}, {}{})", in, out, c.bool_arg("bias", true) ? "" : ", bias=False");
  }
  if (p == "dropout") return fmt::format("nn.Dropout({})", c.float_arg("p", 0.0));
  if (p == "factorized_reduce") {
    out = out_of();
    return fmt::format("FactorizedReduce({}, {}{})", in, out, no_affine);
  }
  if (p == "resblock") {
    out = out_of();
    return fmt::format("ResBlock({}, {}{})", in, out, kw("stride", i("stride", 1), 1));
  }
  if (p == "mbconv") {
    out = out_of();
    return fmt::format("MBConv({}, {}, {}, {}{}{}{})", in, out, i("k", 3), i("e", 1), kw("stride", i("stride", 1), 1),
                       c.bool_arg("se", false) ? ", se=True" : "", no_affine);
  }
  if (p == "mbv3") {
    out = out_of();
    return fmt::format("MBV3({}, {}, {}, {}{}{}{}{}{})", in, out, i("k", 3), i("e", 1), kw("stride", i("stride", 1), 1),
                       c.bool_arg("se", false) ? ", se=True" : "", c.bool_arg("hswish", false) ? ", hswish=True" : "",
                       c.bool_arg("swish", false) ? ", swish=True" : "", no_affine);
  }
  throw std::invalid_argument(
      fmt::format("cannot export operation '{}': export writes the built-in primitives only (is it a plugin's?)", p));
}

// A module (a sequence of primitive calls) as an nn.Sequential expression, whose children are
// numbered as the runtime's Sequential numbers them; a long one has a child per line, indented
// for an assignment in a method body.
std::string sequential(const lower::Module& m, const std::string& in) {
  std::string channels = in;
  std::vector<std::string> parts;
  std::size_t length = 0;
  for (const ir::PrimCall& c : m.op.seq) {
    std::string next;
    parts.push_back(primitive(c, channels, next, m.affine));
    length += parts.back().size() + 2;
    channels = next;
  }
  if (length <= 80) return fmt::format("nn.Sequential({})", fmt::join(parts, ", "));
  return fmt::format("nn.Sequential(\n            {},\n        )", fmt::join(parts, ",\n            "));
}

std::string edge_attr(const ir::Cell& c, int e) { return identifier(fmt::format("e_{}_{}", c.target(e), c.source(e))); }

class Writer {
 public:
  Writer(const ir::Program& p, const ir::Arch& a, bool supernet)
      : p_(p), a_(a), net_(lower::lower(p, ir::Mask::of_arch(p, a), supernet)) {}

  PytorchModule run(const std::string& header) {
    PytorchModule m;
    const ir::Network& n = *p_.network;
    std::string out = "# " + header + "\n" + kPrelude;
    out += "\n# The architecture, as cella writes it.\nARCH = " + python_string(ir::to_text(p_, a_)) + "\n";
    // One class per cell decision group, taking the width C; a cell that splits its width
    // (NAS-Bench-101's vertex channels, not proportional to C) gets a class per unit.
    std::map<int, std::string> unit_class;
    std::set<std::string> taken;
    for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
      const std::vector<int>& units = n.cell_groups[g].units;
      const bool per_unit = ir::concatenates_at_output(p_.cells[n.cell_groups[g].cell]);
      for (std::size_t i = 0; i < (per_unit ? units.size() : 1); ++i) {
        std::string name = class_name(n.cell_groups[g].name) + (per_unit ? fmt::format("_{}", units[i]) : "");
        while (!taken.insert(name).second) name += "_";
        out += cell_class(static_cast<int>(g), units[i], per_unit, name);
        for (int u : units)
          if (!per_unit || u == units[i]) unit_class[u] = name;
      }
    }
    m.class_name = class_name(n.name);
    if (taken.count(m.class_name)) m.class_name += "Network";
    out += network_class(m, unit_class);
    out += self_check(m.class_name);
    m.source = out;
    return m;
  }

 private:
  // The class of cell decision group g: the kept operations and how the nodes add them up.
  // `unit` is the unit whose lowering it follows: every unit of the group has the same
  // operations at its own width C, unless `numeric` (NAS-Bench-101's vertex channels, written
  // as numbers for that unit alone).
  std::string cell_class(int g, int unit, bool numeric, const std::string& name) const {
    const ir::Network& n = *p_.network;
    const ir::Cell& c = p_.cells[n.cell_groups[g].cell];
    const ir::CellChoice& ch = a_.cells[g];
    const int I = c.props().inputs;
    const lower::CellUnit& cu = *net_.units[unit].cell;
    auto channels = [&](const lower::Module& m) { return numeric ? std::to_string(m.in_channels) : "C"; };
    // A pruned node (off every input-output path) has no modules and is not written.
    auto kept = [&](int e) {
      const int k = ir::real_op(c, ch, e);
      return k >= 0 && cu.edges[e][k] ? k : -1;
    };
    auto node_op = [&](int v) {
      return v < static_cast<int>(ch.node_op.size()) && ch.node_op[v] >= 0 && !c.node(v).ops.empty() &&
                     cu.nodes[v][ch.node_op[v]]
                 ? ch.node_op[v]
                 : -1;
    };
    const bool split = !cu.node_channels.empty();
    const int out_node = c.props().output.nodes.front();
    std::string users;
    for (int u : n.cell_groups[g].units)
      if (!numeric || u == unit) users += (users.empty() ? "" : ", ") + lower::module_key(n.units[u].name);
    std::string s = fmt::format("\n\nclass {}(nn.Module):\n    \"\"\"Cell {}{} (units {}) of width C.\"\"\"\n\n", name,
                                c.props().name, c.props().reduction ? ", a reduction cell" : "", users);
    s += I >= 2 ? "    def __init__(self, C, preprocess0, preprocess1):\n        super().__init__()\n"
                  "        self.C = C\n        self.preprocess0 = preprocess0\n        self.preprocess1 = preprocess1\n"
                : "    def __init__(self, C):\n        super().__init__()\n        self.C = C\n";
    for (int e = 0; e < c.num_edges(); ++e) {
      const int k = kept(e);
      if (k < 0) continue;
      s += fmt::format("        self.{} = {}  # {}: {}\n", edge_attr(c, e),
                       sequential(*cu.edges[e][k], channels(*cu.edges[e][k])), c.edge_name(e),
                       c.edge(e).candidates[k].name);
    }
    for (int v = 0; v < c.num_nodes(); ++v)
      if (const int k = node_op(v); k >= 0)
        s += fmt::format("        self.node_{} = {}  # node {}: {}\n", v,
                         sequential(*cu.nodes[v][k], channels(*cu.nodes[v][k])), v, c.node(v).ops[k].name);
    // A concatenating node's projection back to the width (lower::CellUnit::combine).
    for (int v = 0; v < c.num_nodes(); ++v)
      if (const auto& m = cu.combine[v]) {
        const auto slots = static_cast<std::int64_t>(c.in_edges(v).size());
        const std::string width = numeric ? std::to_string(m->in_channels / slots) : "C";
        s += fmt::format(
            "        self.concat_{} = nn.Sequential(nn.ReLU(), nn.Conv2d({} * {}, {}, 1, bias=False), "
            "nn.BatchNorm2d({}{}))\n",
            v, slots, width, width, width, m->affine ? "" : ", affine=False");
      }
    s += I >= 2 ? "\n    def forward(self, prev_prev, prev):\n        n0 = self.preprocess0(prev_prev)\n"
                  "        n1 = self.preprocess1(prev)\n"
                : "\n    def forward(self, x):\n        n0 = x\n";
    for (int v : ir::topological_order(c)) {
      if (v < I) continue;
      // With split channels an inner node reads the first channels of a wider source, and the
      // output node concatenates the inner nodes, then adds the projected input.
      std::string sum;
      std::vector<std::string> parts, slots;
      for (int e : c.in_edges(v)) {
        if (cu.combine[v] && kept(e) < 0) slots.push_back(fmt::format("zeros_of(n0, self.C, {})", cu.downsampling[v]));
        if (kept(e) < 0) continue;
        const int src = c.source(e);
        std::string x = fmt::format("n{}", src);
        if (split && src >= I && v != out_node && cu.node_channels[src] > cu.node_channels[v])
          x += fmt::format("[:, :{}]", cu.node_channels[v]);
        std::string term = fmt::format("self.{}({})", edge_attr(c, e), x);
        if (cu.combine[v])
          slots.push_back(term);
        else if (split && v == out_node && src >= I)
          parts.push_back(term);
        else
          sum += (sum.empty() ? "" : " + ") + term;
      }
      if (cu.combine[v]) sum = fmt::format("self.concat_{}(torch.cat([{}], dim=1))", v, fmt::join(slots, ", "));
      if (!parts.empty()) {
        std::string cat = parts.size() == 1 ? parts[0] : fmt::format("torch.cat([{}], dim=1)", fmt::join(parts, ", "));
        sum = sum.empty() ? cat : cat + " + " + sum;
      }
      if (sum.empty() && split) continue;  // pruned: nothing reads it
      if (sum.empty()) sum = fmt::format("zeros_of(n0, self.C, {})", cu.downsampling[v]);
      s += fmt::format("        n{} = {}\n", v, sum);
      if (node_op(v) >= 0) s += fmt::format("        n{0} = self.node_{0}(n{0})\n", v);
    }
    if (!cu.output_concat) {
      s += fmt::format("        return n{}\n", cu.output.front());
    } else {
      std::string parts;
      for (int v : cu.output) parts += fmt::format("{}n{}", parts.empty() ? "" : ", ", v);
      s += fmt::format("        return torch.cat([{}], dim=1)\n", parts);
    }
    return s;
  }

  // The network: its units that run, in order, each cell fed the two outputs before it.
  std::string network_class(PytorchModule& m, const std::map<int, std::string>& unit_class) {
    const ir::Network& n = *p_.network;
    std::string init, fwd = "        prev_prev = prev = x\n";
    // A resolution choice: the network resizes its input to the architecture's (NetworkImpl::run).
    if (!n.resolutions.empty())
      fwd = fmt::format("        prev_prev = prev = x = resize(x, {})\n",
                        n.resolutions[static_cast<std::size_t>(a_.resolution)]);
    for (std::size_t i = 0; i < n.units.size(); ++i) {
      if (!ir::unit_runs(p_, static_cast<int>(i), a_)) continue;
      const ir::Unit& u = n.units[i];
      const lower::Unit& lu = net_.units[i];
      const std::string attr = identifier(lu.name);
      std::string call;
      if (lu.fixed) {
        init +=
            fmt::format("        self.{} = {}\n", attr, sequential(*lu.fixed, std::to_string(lu.fixed->in_channels)));
        m.prefixes.emplace_back(lu.fixed->path + ".", attr + ".");
        call = fmt::format("self.{}(prev)", attr);
      } else if (lu.cell) {
        const lower::CellUnit& cu = *lu.cell;
        const ir::Cell& c = p_.cells[cu.cell];
        std::string args = std::to_string(cu.width);
        for (std::size_t j = 0; j < cu.preprocess.size(); ++j) {
          const lower::Module& pre = *cu.preprocess[j];
          args += fmt::format(",\n            preprocess{}={}", j, sequential(pre, std::to_string(pre.in_channels)));
          m.prefixes.emplace_back(pre.path + ".", attr + "." + pre.name + ".");
        }
        init += fmt::format("        self.{} = {}({})\n", attr, unit_class.at(static_cast<int>(i)), args);
        for (int e = 0; e < c.num_edges(); ++e)
          for (const auto& mod : cu.edges[e])
            if (mod) m.prefixes.emplace_back(mod->path + ".", attr + "." + edge_attr(c, e) + ".");
        for (int v = 0; v < c.num_nodes(); ++v)
          for (const auto& mod : cu.nodes[v])
            if (mod) m.prefixes.emplace_back(mod->path + ".", fmt::format("{}.node_{}.", attr, v));
        for (int v = 0; v < c.num_nodes(); ++v)
          if (const auto& mod = cu.combine[v])
            m.prefixes.emplace_back(mod->path + ".", fmt::format("{}.concat_{}.", attr, v));
        call =
            c.props().inputs >= 2 ? fmt::format("self.{}(prev_prev, prev)", attr) : fmt::format("self.{}(prev)", attr);
      } else {
        const int k = a_.layers[u.group];
        const lower::Module& mod = *lu.choices[k];
        init += fmt::format("        self.{} = {}  # {}\n", attr, sequential(mod, std::to_string(mod.in_channels)),
                            u.choices[k].name);
        m.prefixes.emplace_back(mod.path + ".", attr + ".");
        call = fmt::format("self.{}(prev)", attr);
      }
      // After the stem both inputs of a cell are its output, as the lowering wires them.
      fwd += i == 0 ? fmt::format("        prev_prev = prev = {}\n", call)
                    : fmt::format("        prev_prev, prev = prev, {}\n", call);
    }
    return fmt::format(
        "\n\nclass {}(nn.Module):\n    \"\"\"Network {}: the architecture ARCH, as {}.\"\"\"\n\n"
        "    def __init__(self):\n        super().__init__()\n{}\n    def forward(self, x):\n{}        return prev\n",
        m.class_name, n.name,
        net_.supernet ? "cella's supernet holds it (its batch norms as there)" : "cella builds it stand-alone", init,
        fwd);
  }

  static std::string self_check(const std::string& cls) {
    return fmt::format(R"PY(

HERE = os.path.dirname(os.path.abspath(__file__))


def load(weights=None):
    """The network with the exported weights (weights.pt beside this file), in eval mode."""
    model = {0}()
    model.load_state_dict(torch.load(weights or os.path.join(HERE, "weights.pt")))
    return model.eval()


def agrees(logits, example, what):
    """Whether `logits` are cella's on the example batch, to float rounding; says so."""
    diff = (logits - example["logits"]).abs().max().item()
    tolerance = 1e-4 * max(1.0, example["logits"].abs().max().item())
    print("{0} (%s): largest difference to cella's logits %.3g (tolerance %.3g)" % (what, diff, tolerance))
    return diff <= tolerance


def export_onnx(path):
    """Writes the network as ONNX (any batch size), checked with onnxruntime where it is installed."""
    import warnings

    model = load()
    example = torch.load(os.path.join(HERE, "example.pt"))
    # Tracing turns the spatial sizes that decide FactorizedReduce's padding into constants:
    # right, since they follow from the input's size; only the batch size stays free.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    torch.onnx.export(model, (example["input"],), path, input_names=["images"], output_names=["logits"],
                      dynamic_axes={{"images": {{0: "batch"}}, "logits": {{0: "batch"}}}}, opset_version=13)
    try:
        import onnxruntime
    except ImportError:
        print("%s written, not checked: onnxruntime is not installed (pip install onnxruntime)" % path)
        return True
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(None, {{"images": example["input"].numpy()}})[0]
    return agrees(torch.from_numpy(logits), example, "ONNX, onnxruntime " + onnxruntime.__version__)


if __name__ == "__main__":
    # `python3 model.py`: the self-check, the logits of cella's example batch (example.pt)
    # computed again here; `python3 model.py --onnx model.onnx` writes and checks the ONNX file.
    if len(sys.argv) == 3 and sys.argv[1] == "--onnx":
        sys.exit(0 if export_onnx(sys.argv[2]) else 1)
    example = torch.load(os.path.join(HERE, "example.pt"))
    with torch.no_grad():
        logits = load()(example["input"])
    sys.exit(0 if agrees(logits, example, "PyTorch " + torch.__version__) else 1)
)PY",
                       cls);
  }

  const ir::Program& p_;
  const ir::Arch& a_;
  lower::Network net_;
};

}  // namespace

PytorchModule pytorch_module(const ir::Program& program, const ir::Arch& arch, const std::string& header,
                             bool supernet) {
  if (!program.network) throw std::invalid_argument("the file has no network to export");
  return Writer(program, arch, supernet).run(header);
}

std::string python_name(const PytorchModule& module, const std::string& cella_name) {
  for (const auto& [from, to] : module.prefixes)
    if (cella_name.rfind(from, 0) == 0) return to + cella_name.substr(from.size());
  return "";
}

}  // namespace cella::exporter
