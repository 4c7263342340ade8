// What the registries of training methods and split strategies share: named entries, built-ins
// first, then plugins', looked up by the word a plan uses.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cella::runtime {

template <class T>
class NamedRegistry {
 public:
  const T* find(std::string_view name) const {
    for (const auto& item : items_)
      if (item->name() == name) return item.get();
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& item : items_) out.emplace_back(item->name());
    return out;
  }

 protected:
  /// Adds `item`; throws std::invalid_argument naming `what` if its name is taken.
  void insert(std::unique_ptr<T> item, std::string_view what) {
    if (find(item->name())) throw std::invalid_argument(fmt::format("{} '{}' is registered twice", what, item->name()));
    items_.push_back(std::move(item));
  }

 private:
  std::vector<std::unique_ptr<T>> items_;
};

}  // namespace cella::runtime
