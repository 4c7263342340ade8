// The front end: runs the ANTLR lexer and parser over a file and transforms the parse tree into
// our AST. ANTLR types never leave this file.
#include "compiler/frontend/parser.h"

#include <CellaLexer.h>
#include <CellaParser.h>
#include <antlr4-runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace cella::frontend {

namespace {

using diag::DiagnosticEngine;
using diag::Kind;
using diag::SourceRange;
using P = CellaParser;

constexpr std::size_t kMaxSyntaxErrors = 20;
constexpr int kMaxNesting = 200;
constexpr int kMaxChainDepth = 2000;

// --- input checks -------------------------------------------------------------------------

// Position (line, column, both 1-based) of byte `offset`.
SourceRange at_offset(diag::FileId id, std::string_view text, std::size_t offset, std::uint32_t len = 1) {
  std::uint32_t line = 1, col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return SourceRange{id, line, col, len};
}

// Offset of the first byte that is not valid UTF-8 (overlong forms and surrogates included), or npos.
std::size_t invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80)
      n = 0;
    else if (c >= 0xc2 && c <= 0xdf)
      n = 1;
    else if (c >= 0xe0 && c <= 0xef)
      n = 2;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 3;
    else
      return i;
    if (n > s.size() - 1 - i) return i;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return i;
    if (n > 0) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
        return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

// --- error listener -----------------------------------------------------------------------

std::string friendly(std::string msg) {
  auto replace = [&](std::string_view from, std::string_view to) {
    for (std::size_t p = msg.find(from); p != std::string::npos; p = msg.find(from, p + to.size()))
      msg.replace(p, from.size(), to);
  };
  replace("mismatched input", "unexpected");
  replace("extraneous input", "unexpected");
  replace("no viable alternative at input", "cannot make sense of");
  replace("missing", "expected");
  replace("'<EOF>'", "end of file");
  replace("<EOF>", "end of file");
  replace(" at '", " before '");
  // The parser's expected set is long because many keywords double as names; summarise it.
  std::size_t open = msg.find("expecting {");
  if (open != std::string::npos) {
    std::string set = msg.substr(open);
    if (set.find("INT") != std::string::npos && set.find("IDENT") != std::string::npos)
      msg = msg.substr(0, open) + "expecting an expression";
    else if (std::count(set.begin(), set.end(), ',') >= 8)
      msg = msg.substr(0, open) + "expecting a statement";
  }
  replace("IDENT", "a name");
  replace("INT", "an integer");
  return msg;
}

// Turns ANTLR's console messages into located diagnostics.
class ErrorListener : public antlr4::BaseErrorListener {
 public:
  ErrorListener(DiagnosticEngine& diags, diag::FileId id) : diags_(diags), id_(id) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* token, size_t line, size_t column,
                   const std::string& msg, std::exception_ptr) override {
    // Stray characters were reported already, as UnexpectedCharacter.
    if (token && token->getType() == CellaLexer::ERROR_CHAR) return;
    // One error per line: after the first, ANTLR's recovery reports the rest of the line again
    // (`lr = 0.0.25` gave three errors for one typo).
    if (line == last_line_) return;
    last_line_ = line;
    if (count_++ >= kMaxSyntaxErrors) return;
    std::uint32_t len = 1;
    if (token && token->getType() != antlr4::Token::EOF) {
      len = static_cast<std::uint32_t>(std::max<std::size_t>(1, token->getText().size()));
    }
    std::string text = msg;
    if (msg.rfind("no viable alternative", 0) == 0) {
      // ANTLR quotes the whole unparsable stretch glued together; name the token instead.
      text = token && token->getType() != antlr4::Token::EOF ? fmt::format("unexpected '{}'", token->getText())
                                                             : std::string("unexpected end of file");
    }
    diags_.report(Kind::SyntaxError,
                  SourceRange{id_, static_cast<std::uint32_t>(line), static_cast<std::uint32_t>(column + 1), len},
                  friendly(text));
    if (const std::string number = number_before(recognizer, token); !number.empty())
      diags_.note(fmt::format("a number has one decimal point: '{}' ends before this '.'", number));
    if (count_ == kMaxSyntaxErrors) diags_.note("further syntax errors in this file are not shown");
  }

 private:
  // The number `token`, a '.', directly follows (`0.0.25`), or "".
  static std::string number_before(antlr4::Recognizer* recognizer, antlr4::Token* token) {
    if (!recognizer || !token || token->getText() != "." || token->getTokenIndex() == 0) return "";
    auto* tokens = dynamic_cast<antlr4::TokenStream*>(recognizer->getInputStream());
    if (!tokens) return "";
    antlr4::Token* before = tokens->get(token->getTokenIndex() - 1);
    const bool number = before->getType() == CellaLexer::FLOAT || before->getType() == CellaLexer::INT;
    return number && before->getStopIndex() + 1 == token->getStartIndex() ? before->getText() : "";
  }

  DiagnosticEngine& diags_;
  diag::FileId id_;
  std::size_t count_ = 0;
  std::size_t last_line_ = 0;
};

// --- transformer: parse tree -> AST ---------------------------------------------------------

class Transformer {
 public:
  Transformer(diag::FileId id, DiagnosticEngine& diags) : id_(id), diags_(diags) {}

  SourceRange range(antlr4::Token* t) const {
    if (!t) return {};
    auto len = t->getType() == antlr4::Token::EOF ? 1 : std::max<std::size_t>(1, t->getText().size());
    return SourceRange{id_, static_cast<std::uint32_t>(t->getLine()),
                       static_cast<std::uint32_t>(t->getCharPositionInLine() + 1), static_cast<std::uint32_t>(len)};
  }

  SourceRange range(antlr4::ParserRuleContext* ctx) const {
    SourceRange r = range(ctx->getStart());
    antlr4::Token* stop = ctx->getStop();
    if (stop && stop->getLine() == ctx->getStart()->getLine() &&
        stop->getStopIndex() >= ctx->getStart()->getStartIndex())
      r.length = static_cast<std::uint32_t>(stop->getStopIndex() - ctx->getStart()->getStartIndex() + 1);
    return r;
  }

  // file : item* EOF ;
  ast::File transform_file(P::FileContext* ctx) {
    ast::File file;
    file.id = id_;
    for (auto* item : ctx->item()) file.decls.push_back(transform_item(item));
    return file;
  }

  // item : importDecl | opDecl | opsetDecl | cellDecl | networkDecl | searchDecl ;
  ast::Decl transform_item(P::ItemContext* ctx) {
    ast::Decl d;
    if (auto* c = ctx->importDecl()) {
      d.kind = ast::Decl::Kind::Import;
      d.import = transform_import(c);
    } else if (auto* c = ctx->opDecl()) {
      d.kind = ast::Decl::Kind::Op;
      d.op = transform_op(c);
    } else if (auto* c = ctx->opsetDecl()) {
      d.kind = ast::Decl::Kind::Opset;
      d.opset = std::make_unique<ast::OpsetDecl>();
      d.opset->name = c->name()->getText();
      d.opset->name_range = range(c->name());
      d.opset->value = transform_expr(c->expr());
    } else if (auto* c = ctx->cellDecl()) {
      d.kind = ast::Decl::Kind::Cell;
      d.cell = transform_cell(c);
    } else if (auto* c = ctx->networkDecl()) {
      d.kind = ast::Decl::Kind::Network;
      d.network = transform_network(c);
    } else {
      d.kind = ast::Decl::Kind::Search;
      d.search = transform_search(ctx->searchDecl());
    }
    return d;
  }

  // importDecl : 'import' (dottedName | STRING) ';'? ;
  std::unique_ptr<ast::ImportDecl> transform_import(P::ImportDeclContext* ctx) {
    auto d = std::make_unique<ast::ImportDecl>();
    if (ctx->STRING()) {
      d->is_file = true;
      d->path = unquote(ctx->STRING()->getText());
      d->range = range(ctx->STRING()->getSymbol());
    } else {
      d->path = ctx->dottedName()->getText();
      d->range = range(ctx->dottedName());
    }
    return d;
  }

  // opDecl : 'op' name paramList? '=' expr ';'? ;
  std::unique_ptr<ast::OpDecl> transform_op(P::OpDeclContext* ctx) {
    auto d = std::make_unique<ast::OpDecl>();
    d->name = ctx->name()->getText();
    d->name_range = range(ctx->name());
    if (ctx->paramList()) {
      d->has_param_list = true;
      d->params = transform_params(ctx->paramList());
    }
    d->body = transform_expr(ctx->expr());
    return d;
  }

  // paramList : '(' (param (',' param)* ','?)? ')' ;   param : name ('=' expr)? ;
  std::vector<ast::Param> transform_params(P::ParamListContext* ctx) {
    std::vector<ast::Param> out;
    for (auto* p : ctx->param()) {
      ast::Param param;
      param.name = p->name()->getText();
      param.range = range(p->name());
      if (p->expr()) param.default_value = transform_expr(p->expr());
      out.push_back(std::move(param));
    }
    return out;
  }

  // cellDecl : 'cell' name (':' name)? '{' cellStmt* '}' ;
  std::unique_ptr<ast::CellDecl> transform_cell(P::CellDeclContext* ctx) {
    auto d = std::make_unique<ast::CellDecl>();
    d->name = ctx->name(0)->getText();
    d->name_range = range(ctx->name(0));
    if (ctx->name().size() > 1) {
      d->base = ctx->name(1)->getText();
      d->base_range = range(ctx->name(1));
    }
    for (auto* s : ctx->cellStmt()) d->stmts.push_back(transform_cell_stmt(s));
    return d;
  }

  // cellStmt : 'inputs' expr | 'nodes' expr (':' expr)? | 'node' expr (':' expr)? nodeOpt*
  //          | 'edge' expr '->' expr ':' expr 'optional'? | 'edges' 'all' ':' expr 'optional'?
  //          | 'combine' combineSpec | 'select' expr | 'output' expr | 'reduction'
  //          | 'constraint' expr ;
  ast::CellStmt transform_cell_stmt(P::CellStmtContext* ctx) {
    ast::CellStmt s;
    s.range = range(ctx->getStart());
    using K = ast::CellStmtKind;
    if (auto* c = dynamic_cast<P::InputsStmtContext*>(ctx)) {
      s.kind = K::Inputs;
      s.a = transform_expr(c->expr());
    } else if (auto* c = dynamic_cast<P::NodesStmtContext*>(ctx)) {
      s.kind = K::Nodes;
      s.a = transform_expr(c->expr(0));
      if (c->expr().size() > 1) s.b = transform_expr(c->expr(1));
    } else if (auto* c = dynamic_cast<P::NodeStmtContext*>(ctx)) {
      s.kind = K::Node;
      s.a = transform_expr(c->expr(0));
      if (c->expr().size() > 1) s.b = transform_expr(c->expr(1));
      for (auto* opt : c->nodeOpt()) {
        if (opt->combineSpec()) {
          combine_spec(opt->combineSpec(), s);
        } else {
          s.node_select = transform_expr(opt->expr());
        }
      }
    } else if (auto* c = dynamic_cast<P::EdgeStmtContext*>(ctx)) {
      s.kind = K::Edge;
      s.a = transform_expr(c->expr(0));
      s.b = transform_expr(c->expr(1));
      s.c = transform_expr(c->expr(2));
      s.optional = c->optionalMark() != nullptr;
    } else if (auto* c = dynamic_cast<P::EdgesAllStmtContext*>(ctx)) {
      s.kind = K::EdgesAll;
      s.c = transform_expr(c->expr());
      s.optional = c->optionalMark() != nullptr;
    } else if (auto* c = dynamic_cast<P::CombineStmtContext*>(ctx)) {
      s.kind = K::Combine;
      combine_spec(c->combineSpec(), s);
    } else if (auto* c = dynamic_cast<P::SelectStmtContext*>(ctx)) {
      s.kind = K::Select;
      s.a = transform_expr(c->expr());
    } else if (auto* c = dynamic_cast<P::OutputStmtContext*>(ctx)) {
      s.kind = K::Output;
      s.a = transform_expr(c->expr());
    } else if (dynamic_cast<P::ReductionStmtContext*>(ctx)) {
      s.kind = K::Reduction;
    } else {
      auto* cs = dynamic_cast<P::ConstraintStmtContext*>(ctx);
      s.kind = K::Constraint;
      s.a = transform_expr(cs->expr());
    }
    return s;
  }

  // combineSpec : name | '[' name (',' name)* ','? ']' ;
  void combine_spec(P::CombineSpecContext* ctx, ast::CellStmt& s) {
    s.combine_list = ctx->getStart()->getText() == "[";
    for (auto* n : ctx->name()) {
      s.combine.push_back(n->getText());
      s.combine_ranges.push_back(range(n));
    }
  }

  // networkDecl : 'network' name paramList? '{' netStmt* '}' ;
  std::unique_ptr<ast::NetworkDecl> transform_network(P::NetworkDeclContext* ctx) {
    auto d = std::make_unique<ast::NetworkDecl>();
    d->name = ctx->name()->getText();
    d->name_range = range(ctx->name());
    if (ctx->paramList()) {
      d->has_param_list = true;
      d->params = transform_params(ctx->paramList());
    }
    for (auto* s : ctx->netStmt()) d->stmts.push_back(transform_net_stmt(s));
    return d;
  }

  // netStmt : 'stem' expr | 'stage' name stageArgs? ('*' primary)? stageOpt* | 'resolution' expr ('step' expr)?
  //         | 'layer' expr | 'head' expr | 'auxiliary' expr ('weight' expr)? | 'share' name ;
  // stageArgs : '(' args ')' ;     stageOpt : 'width' expr | 'stride' expr ;
  ast::NetStmt transform_net_stmt(P::NetStmtContext* ctx) {
    ast::NetStmt s;
    s.range = range(ctx->getStart());
    using K = ast::NetStmtKind;
    if (auto* c = dynamic_cast<P::StemStmtContext*>(ctx)) {
      s.kind = K::Stem;
      s.value = transform_expr(c->expr());
    } else if (auto* c = dynamic_cast<P::LayerStmtContext*>(ctx)) {
      s.kind = K::Layer;
      s.value = transform_expr(c->expr());
    } else if (auto* c = dynamic_cast<P::HeadStmtContext*>(ctx)) {
      s.kind = K::Head;
      s.value = transform_expr(c->expr());
    } else if (auto* c = dynamic_cast<P::AuxiliaryStmtContext*>(ctx)) {
      s.kind = K::Auxiliary;
      s.value = transform_expr(c->expr(0));
      if (c->expr().size() > 1) s.weight = transform_expr(c->expr(1));
    } else if (auto* c = dynamic_cast<P::ResolutionStmtContext*>(ctx)) {
      s.kind = K::Resolution;
      s.value = transform_expr(c->expr(0));
      if (c->expr().size() > 1) s.step = transform_expr(c->expr(1));
    } else if (auto* c = dynamic_cast<P::ShareStmtContext*>(ctx)) {
      s.kind = K::Share;
      s.name = c->name()->getText();
      s.name_range = range(c->name());
    } else {
      auto* st = dynamic_cast<P::StageStmtContext*>(ctx);
      s.kind = K::Stage;
      s.name = st->name()->getText();
      s.name_range = range(st->name());
      if (auto* a = st->stageArgs()) {
        s.call = make(ast::ExprKind::Call, s.name_range.to(range(a)));
        s.call->text = s.name;
        s.call->name_range = s.name_range;
        for (auto* arg : a->arg()) s.call->args.push_back(transform_arg(arg, 0));
      }
      if (st->primary()) s.depth = transform_primary(st->primary(), 0);
      for (auto* opt : st->stageOpt()) {
        auto e = transform_expr(opt->expr());
        if (opt->getStart()->getText() == "width")
          s.width = std::move(e);
        else
          s.stride = std::move(e);
      }
    }
    return s;
  }

  // searchDecl : 'search' name 'on' name block ;
  std::unique_ptr<ast::SearchDecl> transform_search(P::SearchDeclContext* ctx) {
    auto d = std::make_unique<ast::SearchDecl>();
    d->name = ctx->name(0)->getText();
    d->name_range = range(ctx->name(0));
    d->network = ctx->name(1)->getText();
    d->network_range = range(ctx->name(1));
    d->body = transform_block(ctx->block());
    return d;
  }

  // block : '{' setting* '}' ;   setting : name expr? block? ';'? ;
  ast::Block transform_block(P::BlockContext* ctx) {
    ast::Block b;
    b.range = range(ctx->getStart());
    for (auto* s : ctx->setting()) {
      ast::Setting setting;
      setting.name = s->name()->getText();
      setting.name_range = range(s->name());
      if (s->expr()) setting.value = transform_expr(s->expr());
      if (s->block()) setting.block = std::make_unique<ast::Block>(transform_block(s->block()));
      b.settings.push_back(std::move(setting));
    }
    return b;
  }

  // arg : (name '=')? expr ;
  ast::Arg transform_arg(P::ArgContext* a, int depth) {
    ast::Arg arg;
    if (a->name()) {
      arg.name = a->name()->getText();
      arg.name_range = range(a->name());
    }
    arg.value = transform_expr(a->expr(), depth + 1);
    return arg;
  }

  ast::ExprPtr make(ast::ExprKind kind, SourceRange r) {
    auto e = std::make_unique<ast::Expr>();
    e->kind = kind;
    e->range = r;
    return e;
  }

  // expr : primary | '-' expr | expr ('*'|'/'|'%') expr | expr ('+'|'-') expr | expr '..' expr
  //      | expr cmp expr | 'not' expr | expr 'and' expr | expr 'or' expr | expr '>>' expr ;
  ast::ExprPtr transform_expr(P::ExprContext* ctx, int depth = 0) {
    if (depth > kMaxChainDepth) {
      if (!too_deep_) diags_.report(Kind::NestingTooDeep, range(ctx->getStart()), "expression is nested too deeply");
      too_deep_ = true;
      return make(ast::ExprKind::Int, range(ctx->getStart()));
    }
    if (auto* c = dynamic_cast<P::AtomExprContext*>(ctx)) return transform_primary(c->primary(), depth);
    if (auto* c = dynamic_cast<P::NegExprContext*>(ctx)) return unary(ast::ExprKind::Neg, ctx, c->expr(), depth);
    if (auto* c = dynamic_cast<P::NotExprContext*>(ctx)) return unary(ast::ExprKind::Not, ctx, c->expr(), depth);
    if (auto* c = dynamic_cast<P::MulExprContext*>(ctx)) {
      std::string op = c->op->getText();
      return binary(op == "*"   ? ast::BinaryOp::Mul
                    : op == "/" ? ast::BinaryOp::Div
                                : ast::BinaryOp::Mod,
                    c, c->expr(0), c->expr(1), depth);
    }
    if (auto* c = dynamic_cast<P::AddExprContext*>(ctx))
      return binary(c->op->getText() == "+" ? ast::BinaryOp::Add : ast::BinaryOp::Sub, c, c->expr(0), c->expr(1),
                    depth);
    if (auto* c = dynamic_cast<P::RangeExprContext*>(ctx)) {
      auto e = make(ast::ExprKind::Range, range(c));
      e->operands.push_back(transform_expr(c->expr(0), depth + 1));
      e->operands.push_back(transform_expr(c->expr(1), depth + 1));
      return e;
    }
    if (auto* c = dynamic_cast<P::CmpExprContext*>(ctx)) {
      std::string op = c->op->getText();
      ast::BinaryOp b = op == "<"    ? ast::BinaryOp::Lt
                        : op == "<=" ? ast::BinaryOp::Le
                        : op == ">"  ? ast::BinaryOp::Gt
                        : op == ">=" ? ast::BinaryOp::Ge
                        : op == "==" ? ast::BinaryOp::Eq
                                     : ast::BinaryOp::Ne;
      return binary(b, c, c->expr(0), c->expr(1), depth);
    }
    if (auto* c = dynamic_cast<P::AndExprContext*>(ctx))
      return binary(ast::BinaryOp::And, c, c->expr(0), c->expr(1), depth);
    if (auto* c = dynamic_cast<P::OrExprContext*>(ctx))
      return binary(ast::BinaryOp::Or, c, c->expr(0), c->expr(1), depth);
    auto* c = dynamic_cast<P::SeqExprContext*>(ctx);
    return binary(ast::BinaryOp::Seq, c, c->expr(0), c->expr(1), depth);
  }

  ast::ExprPtr unary(ast::ExprKind kind, P::ExprContext* ctx, P::ExprContext* operand, int depth) {
    auto e = make(kind, range(ctx->getStart()));
    e->operands.push_back(transform_expr(operand, depth + 1));
    return e;
  }

  ast::ExprPtr binary(ast::BinaryOp op, P::ExprContext* ctx, P::ExprContext* lhs, P::ExprContext* rhs, int depth) {
    // The operator token is the first token after the left operand.
    auto e = make(ast::ExprKind::Binary, range(ctx));
    e->op = op;
    e->operands.push_back(transform_expr(lhs, depth + 1));
    e->operands.push_back(transform_expr(rhs, depth + 1));
    return e;
  }

  // primary : INT | FLOAT | STRING | 'true' | 'false' | name '(' args ')' | name | '(' expr ')'
  //         | '[' listItem 'for' name 'in' expr (',' name 'in' expr)* ']' | '[' listItem,* ']' ;
  ast::ExprPtr transform_primary(P::PrimaryContext* ctx, int depth) {
    SourceRange r = range(ctx);
    if (auto* c = dynamic_cast<P::IntLitContext*>(ctx)) {
      auto e = make(ast::ExprKind::Int, r);
      e->text = c->getText();
      auto res = std::from_chars(e->text.data(), e->text.data() + e->text.size(), e->int_value);
      if (res.ec != std::errc()) {
        diags_.report(Kind::ValueOutOfRange, r, fmt::format("integer '{}' does not fit in 64 bits", e->text));
        e->int_value = 0;
      }
      return e;
    }
    if (auto* c = dynamic_cast<P::FloatLitContext*>(ctx)) {
      auto e = make(ast::ExprKind::Float, r);
      e->text = c->getText();
      e->float_value = std::strtod(e->text.c_str(), nullptr);
      if (!std::isfinite(e->float_value)) {
        diags_.report(Kind::ValueOutOfRange, r, fmt::format("number '{}' is too large", e->text));
        e->float_value = 0;
      }
      return e;
    }
    if (auto* c = dynamic_cast<P::StringLitContext*>(ctx)) {
      auto e = make(ast::ExprKind::String, r);
      e->text = unquote(c->getText());
      return e;
    }
    if (dynamic_cast<P::BoolLitContext*>(ctx)) {
      auto e = make(ast::ExprKind::Bool, r);
      e->bool_value = ctx->getText() == "true";
      return e;
    }
    if (auto* c = dynamic_cast<P::CallExprContext*>(ctx)) {
      auto e = make(ast::ExprKind::Call, r);
      e->name_range = range(c->name());
      e->text = c->name()->getText();
      for (auto* a : c->arg()) e->args.push_back(transform_arg(a, depth));
      return e;
    }
    if (auto* c = dynamic_cast<P::NameExprContext*>(ctx)) {
      auto e = make(ast::ExprKind::Name, r);
      e->text = c->getText();
      return e;
    }
    if (auto* c = dynamic_cast<P::ParenExprContext*>(ctx)) return transform_expr(c->expr(), depth + 1);
    if (auto* c = dynamic_cast<P::ComprehensionContext*>(ctx)) {
      auto e = make(ast::ExprKind::Comprehension, r);
      e->items.push_back(transform_item(c->listItem(), depth));
      for (std::size_t i = 0; i < c->name().size(); ++i) {
        ast::Generator g;
        g.var = c->name(i)->getText();
        g.var_range = range(c->name(i));
        g.domain = transform_expr(c->expr(i), depth + 1);
        e->generators.push_back(std::move(g));
      }
      return e;
    }
    auto* c = dynamic_cast<P::ListExprContext*>(ctx);
    auto e = make(ast::ExprKind::List, r);
    for (auto* item : c->listItem()) e->items.push_back(transform_item(item, depth));
    return e;
  }

  // listItem : expr ('as' (name | STRING))? ;
  ast::ListItem transform_item(P::ListItemContext* ctx, int depth) {
    ast::ListItem item;
    item.value = transform_expr(ctx->expr(), depth + 1);
    if (ctx->name()) {
      item.alias = ctx->name()->getText();
      item.alias_range = range(ctx->name());
    } else if (ctx->STRING()) {
      item.alias = unquote(ctx->STRING()->getText());
      item.alias_is_template = true;
      item.alias_range = range(ctx->STRING()->getSymbol());
    }
    return item;
  }

  static std::string unquote(const std::string& s) {
    std::string out;
    for (std::size_t i = 1; i + 1 < s.size(); ++i) {
      if (s[i] == '\\' && i + 2 < s.size()) {
        char n = s[++i];
        out.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

 private:
  diag::FileId id_;
  DiagnosticEngine& diags_;
  bool too_deep_ = false;
};

// Rejects inputs whose nesting would make a recursive-descent parser overflow its stack:
// brackets nested deeper than kMaxNesting, or long runs of prefix operators.
bool check_nesting(antlr4::CommonTokenStream& tokens, diag::FileId id, DiagnosticEngine& diags) {
  int depth = 0, prefix_run = 0;
  for (antlr4::Token* t : tokens.getTokens()) {
    std::string text = t->getText();
    if (text == "(" || text == "[" || text == "{")
      ++depth;
    else if (text == ")" || text == "]" || text == "}")
      depth = std::max(0, depth - 1);
    prefix_run = (text == "-" || text == "not") ? prefix_run + 1 : 0;
    if (depth > kMaxNesting || prefix_run > kMaxNesting) {
      diags.report(Kind::NestingTooDeep,
                   SourceRange{id, static_cast<std::uint32_t>(t->getLine()),
                               static_cast<std::uint32_t>(t->getCharPositionInLine() + 1), 1},
                   fmt::format("nesting deeper than {} levels", kMaxNesting));
      diags.note("split the expression into named ops or opsets");
      return false;
    }
  }
  return true;
}

}  // namespace

ast::File parse(const diag::SourceManager& sm, diag::FileId id, DiagnosticEngine& diags, std::size_t max_bytes) {
  ast::File empty;
  empty.id = id;
  std::string_view text = sm.text(id);
  if (text.size() > max_bytes) {
    diags.report(Kind::FileTooLarge, SourceRange{id, 0, 0, 0},
                 fmt::format("file is {} bytes; cella reads files of at most {} bytes", text.size(), max_bytes));
    return empty;
  }
  if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    diags.report(Kind::BinaryFile, at_offset(id, text, nul), "file contains a NUL byte; it is not a .cella text file");
    return empty;
  }
  if (std::size_t bad = invalid_utf8(text); bad != std::string_view::npos) {
    diags.report(Kind::BinaryFile, at_offset(id, text, bad), "file is not valid UTF-8 text");
    diags.note("save the file as UTF-8");
    return empty;
  }

  antlr4::ANTLRInputStream input(text.data(), text.size());
  CellaLexer lexer(&input);
  lexer.removeErrorListeners();
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();

  std::size_t before = diags.error_count();
  std::size_t stray = 0;
  for (antlr4::Token* t : tokens.getTokens()) {
    if (t->getType() != CellaLexer::ERROR_CHAR) continue;
    if (stray++ >= kMaxSyntaxErrors) break;
    std::string ch = t->getText();
    auto r = SourceRange{id, static_cast<std::uint32_t>(t->getLine()),
                         static_cast<std::uint32_t>(t->getCharPositionInLine() + 1), 1};
    diags.report(Kind::UnexpectedCharacter, r,
                 ch == "\"" ? std::string("unterminated string") : fmt::format("unexpected character '{}'", ch));
    if (ch == "\"") diags.note("a string ends with '\"' on the same line");
  }
  if (!check_nesting(tokens, id, diags)) return empty;

  CellaParser parser(&tokens);
  parser.removeErrorListeners();
  ErrorListener listener(diags, id);
  // Two-stage parsing: the fast SLL mode first, full LL only if SLL reports an error.
  parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::SLL);
  parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
  P::FileContext* tree = nullptr;
  try {
    tree = parser.file();
  } catch (const antlr4::ParseCancellationException&) {
    tokens.seek(0);
    parser.reset();
    parser.setErrorHandler(std::make_shared<antlr4::DefaultErrorStrategy>());
    parser.addErrorListener(&listener);
    parser.getInterpreter<antlr4::atn::ParserATNSimulator>()->setPredictionMode(antlr4::atn::PredictionMode::LL);
    tree = parser.file();
  }
  if (diags.error_count() > before) return empty;  // later stages only see files that parsed

  Transformer t(id, diags);
  ast::File file = t.transform_file(tree);
  if (file.decls.empty()) {
    diags.report(Kind::EmptyFile, SourceRange{id, 1, 1, 1}, "file declares nothing");
    diags.note("a space file declares at least an op, an opset, a cell or a network; see docs/language.md");
  }
  return file;
}

}  // namespace cella::frontend
