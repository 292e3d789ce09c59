// Result<T>: the data path never throws; fallible calls return this.
#pragma once

#include <utility>
#include <variant>

namespace ringway::io {

struct Error {
  int code;          // errno value (positive)
  const char* what;  // static context, e.g. "socket"
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(e) {}
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace ringway::io
