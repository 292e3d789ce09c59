// Generic YAML walking for the loader: positions, paths, type checks and known-key tables.
// Everything here reports into a Reader and carries on, so one load lists every problem.
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "config/loader.h"

namespace ringway::config {

class Reader {
public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  void problem(const YAML::Mark& at, const std::string& path, std::string message);
  // An empty value (`key:`) has the mark of whatever follows it, so it is reported at its key.
  void problem(const YAML::Node& at, const std::string& path, std::string message);
  // Report at the position remembered for `path`, or its nearest remembered parent: checks that
  // run after parsing (cross references, conflicts) no longer hold the nodes.
  void problemAt(const std::string& path, std::string message);

  void note(const std::string& path, const YAML::Mark& mark) { marks_.emplace(path, mark); }
  bool has(const std::string& path) const { return marks_.count(path) != 0; }
  int lineOf(const std::string& path) const; // 1-based, 0 when unknown

  // Not a problem, but worth saying (`--check` prints these): "FILE:LINE:COL: warning: ...".
  void warnAt(const std::string& path, const std::string& message);
  std::vector<std::string> takeWarnings() { return std::move(warnings_); }

  bool ok() const { return problems_.empty(); }
  // Sorted by position, so the output reads top to bottom like the file.
  std::vector<Problem> take();

private:
  std::string file_;
  std::vector<Problem> problems_;
  std::vector<std::string> warnings_;
  std::unordered_map<std::string, YAML::Mark> marks_;
};

// "io" + "buffer_size" -> "io.buffer_size"; "" + "workers" -> "workers".
std::string join(const std::string& path, std::string_view key);
// "listeners" + 2 -> "listeners[2]".
std::string indexed(const std::string& path, std::size_t i);
// The key a path ends in ("listeners[0].backlog" -> "backlog"), to name the field in messages.
std::string fieldName(const std::string& path);
// For messages: "a mapping", "a sequence", "nothing", or the quoted scalar.
std::string describe(const YAML::Node& node);

std::size_t editDistance(std::string_view a, std::string_view b);
// "; did you mean 'endpoints'?" when a candidate is close enough, else "".
std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates);

// `off` (or `false`) where a feature can be disabled instead of configured.
bool isOff(const YAML::Node& node);

// Checks that `node` is a mapping whose keys are unique strings from `known`; remembers the
// position of every value. Unknown keys get a did-you-mean from the same table.
bool checkMapping(Reader& r, const YAML::Node& node, const std::string& path,
                  std::span<const std::string_view> known, std::string_view expected);
std::optional<YAML::Node> lookup(const YAML::Node& map, std::string_view key);

// One entry per key a mapping accepts. Adding a YAML key is one line in the table (plus the
// field in config.h): the same table drives the unknown-key check, the did-you-mean, the
// required-key check and the dispatch.
template <class T> struct Key {
  std::string_view name;
  bool required;
  void (*read)(Reader& r, const YAML::Node& value, const std::string& path, T& out);
};
inline constexpr bool Required = true;
inline constexpr bool Optional = false;

// Keys are read in table order, not file order, so a table can list what others depend on first
// (`defaults` before `listeners`).
template <class T, std::size_t N>
bool readMapping(Reader& r, const YAML::Node& node, const std::string& path, T& out,
                 const Key<T> (&keys)[N], std::string_view expected = "a mapping") {
  std::array<std::string_view, N> names;
  for (std::size_t i = 0; i < N; ++i)
    names[i] = keys[i].name;
  if (!checkMapping(r, node, path, names, expected))
    return false;
  for (const Key<T>& key : keys) {
    if (std::optional<YAML::Node> value = lookup(node, key.name))
      key.read(r, *value, join(path, key.name), out);
    else if (key.required)
      r.problem(node, path, "missing required key '" + std::string(key.name) + "'");
  }
  return true;
}

// Calls each(item, itemPath) for every element; `emptyMessage` is reported for an empty list.
template <class F>
void readSequence(Reader& r, const YAML::Node& node, const std::string& path,
                  std::string_view emptyMessage, F&& each) {
  if (!node.IsSequence()) {
    r.problem(node, path, "expected a list, got " + describe(node));
    return;
  }
  if (node.size() == 0) {
    r.problem(node, path, std::string(emptyMessage));
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    const std::string itemPath = indexed(path, i);
    r.note(itemPath, item.Mark());
    each(item, itemPath);
  }
}

// Scalar readers: report what is wrong and return nullopt, so the caller keeps its default.
std::optional<std::string> readString(Reader& r, const YAML::Node& node, const std::string& path);
std::optional<bool> readBool(Reader& r, const YAML::Node& node, const std::string& path);
std::optional<int64_t> readInt(Reader& r, const YAML::Node& node, const std::string& path,
                               int64_t min, int64_t max, std::string_view expected = "an integer");
std::optional<Duration> readDuration(Reader& r, const YAML::Node& node, const std::string& path,
                                     Duration min);
std::optional<std::size_t> readSize(Reader& r, const YAML::Node& node, const std::string& path,
                                    std::size_t min, std::size_t max);
std::optional<Address> readAddress(Reader& r, const YAML::Node& node, const std::string& path,
                                   bool allowPortZero);
std::optional<std::size_t> readChoice(Reader& r, const YAML::Node& node, const std::string& path,
                                      std::span<const std::string_view> names);

// "16KiB" for exact multiples, else "1000B".
std::string formatSize(std::size_t bytes);

} // namespace ringway::config
