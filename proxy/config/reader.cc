#include "config/reader.h"

#include <algorithm>
#include <charconv>

#include "config/units.h"

namespace ringway::config {

void Reader::problem(const YAML::Mark& at, const std::string& path, std::string message) {
  // yaml-cpp marks are 0-based and -1 when unknown, which maps to our "0 = unknown".
  problems_.push_back(Problem{file_, at.line + 1, at.column + 1, std::move(message), path});
  if (at.line < 0)
    problems_.back().col = 0;
}

void Reader::problem(const YAML::Node& at, const std::string& path, std::string message) {
  if (at.IsNull() && has(path))
    problemAt(path, std::move(message));
  else
    problem(at.Mark(), path, std::move(message));
}

void Reader::problemAt(const std::string& path, std::string message) {
  std::string p = path;
  while (!p.empty() && !has(p)) {
    const std::size_t cut = p.find_last_of(".[");
    p.resize(cut == std::string::npos ? 0 : cut);
  }
  const auto it = marks_.find(p);
  problem(it == marks_.end() ? YAML::Mark::null_mark() : it->second, path, std::move(message));
}

void Reader::warnAt(const std::string& path, const std::string& message) {
  std::string p = path;
  while (!p.empty() && !has(p)) {
    const std::size_t cut = p.find_last_of(".[");
    p.resize(cut == std::string::npos ? 0 : cut);
  }
  const auto it = marks_.find(p);
  Problem w{file_, 0, 0, "warning: " + message, path};
  if (it != marks_.end() && it->second.line >= 0) {
    w.line = it->second.line + 1;
    w.col = it->second.column + 1;
  }
  warnings_.push_back(w.str());
}

int Reader::lineOf(const std::string& path) const {
  const auto it = marks_.find(path);
  return it == marks_.end() ? 0 : it->second.line + 1;
}

std::vector<Problem> Reader::take() {
  std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
    return a.line != b.line ? a.line < b.line : a.col < b.col;
  });
  return std::move(problems_);
}

std::string join(const std::string& path, std::string_view key) {
  if (path.empty())
    return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string indexed(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string fieldName(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.back() == ']')
    p.resize(p.rfind('['));
  const std::size_t dot = p.rfind('.');
  return dot == std::string::npos ? p : p.substr(dot + 1);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
  case YAML::NodeType::Map:
    return "a mapping";
  case YAML::NodeType::Sequence:
    return "a list";
  case YAML::NodeType::Scalar:
    return "'" + node.Scalar() + "'";
  default:
    return "nothing";
  }
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string didYouMean(std::string_view word, std::span<const std::string_view> candidates) {
  // About one typo per three letters: close enough to be the intended word, far enough that an
  // unrelated short key ('a' -> 'io') is not offered.
  const std::size_t limit = std::max<std::size_t>(1, (word.size() + 1) / 3);
  std::string_view best;
  std::size_t bestDistance = limit + 1;
  for (std::string_view c : candidates) {
    std::size_t d = editDistance(word, c);
    // A longer or shorter spelling of the same word ("warning" for "warn") is also a good match.
    const std::string_view shorter = word.size() < c.size() ? word : c;
    const std::string_view longer = word.size() < c.size() ? c : word;
    if (shorter.size() >= 3 && longer.substr(0, shorter.size()) == shorter)
      d = std::min(d, limit);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best.empty())
    return "";
  return "; did you mean '" + std::string(best) + "'?";
}

bool isOff(const YAML::Node& node) {
  return node.IsScalar() && (node.Scalar() == "off" || node.Scalar() == "false");
}

bool checkMapping(Reader& r, const YAML::Node& node, const std::string& path,
                  std::span<const std::string_view> known, std::string_view expected) {
  if (!node.IsMap()) {
    r.problem(node, path, "expected " + std::string(expected) + ", got " + describe(node));
    return false;
  }
  std::unordered_map<std::string, int> seen; // key -> line, for duplicates
  // Range-for, not it->first: the iterator's operator-> hands out a pointer into a temporary.
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      r.problem(key, path, "keys must be plain names, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      r.problem(key, join(path, name), "unknown key '" + name + "'" + didYouMean(name, known));
      continue;
    }
    // yaml-cpp keeps both entries of a repeated key; lookup() would silently take the first.
    if (const auto [prev, fresh] = seen.emplace(name, key.Mark().line + 1); !fresh) {
      r.problem(key, join(path, name),
                "duplicate key '" + name + "' (first at line " + std::to_string(prev->second) +
                    ")");
      continue;
    }
    // An empty value's mark points at whatever follows it; its key is the better place.
    const YAML::Node& value = entry.second;
    r.note(join(path, name), value.IsNull() ? key.Mark() : value.Mark());
  }
  return true;
}

std::optional<YAML::Node> lookup(const YAML::Node& map, std::string_view key) {
  for (const auto& entry : map)
    if (entry.first.IsScalar() && entry.first.Scalar() == key)
      return entry.second;
  return std::nullopt;
}

namespace {

bool parseDecimal(std::string_view text, int64_t& out) {
  if (text.empty() || text.front() == '+')
    return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

} // namespace

std::optional<std::string> readString(Reader& r, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) {
    r.problem(node, path, "expected a string, got " + describe(node));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<bool> readBool(Reader& r, const YAML::Node& node, const std::string& path) {
  bool v = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, v)) {
    r.problem(node, path, "expected true or false, got " + describe(node));
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> readInt(Reader& r, const YAML::Node& node, const std::string& path,
                               int64_t min, int64_t max, std::string_view expected) {
  int64_t v = 0;
  if (!node.IsScalar() || !parseDecimal(node.Scalar(), v)) {
    r.problem(node, path, "expected " + std::string(expected) + ", got " + describe(node));
    return std::nullopt;
  }
  if (v < min || v > max) {
    r.problem(node, path,
              fieldName(path) + " must be between " + std::to_string(min) + " and " +
                  std::to_string(max) + " (got " + node.Scalar() + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<Duration> readDuration(Reader& r, const YAML::Node& node, const std::string& path,
                                     Duration min) {
  if (!node.IsScalar()) {
    r.problem(node, path, "expected a duration such as 5s, got " + describe(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  Duration v{};
  switch (parseDurationDetailed(text, v)) {
  case UnitError::Ok:
    break;
  case UnitError::MissingUnit:
    r.problem(node, path,
              "duration '" + text + "' needs a unit: " + std::string(DurationUnits) + " (e.g. " +
                  text + "s)");
    return std::nullopt;
  case UnitError::UnknownUnit:
    r.problem(node, path,
              "duration '" + text + "' has an unknown unit; use " + std::string(DurationUnits));
    return std::nullopt;
  case UnitError::Overflow:
    r.problem(node, path, "duration '" + text + "' is too large");
    return std::nullopt;
  case UnitError::BadNumber:
    r.problem(node, path,
              "invalid duration '" + text + "': expected a whole number and a unit (" +
                  std::string(DurationUnits) + ")");
    return std::nullopt;
  }
  if (v < min) {
    r.problem(node, path,
              fieldName(path) + " must be at least " + std::to_string(min.count()) + "ms (got " +
                  text + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<std::size_t> readSize(Reader& r, const YAML::Node& node, const std::string& path,
                                    std::size_t min, std::size_t max) {
  if (!node.IsScalar()) {
    r.problem(node, path, "expected a size such as 16KiB, got " + describe(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  std::size_t v = 0;
  switch (parseSizeDetailed(text, v)) {
  case UnitError::Ok:
    break;
  case UnitError::MissingUnit:
    r.problem(node, path,
              "size '" + text + "' needs a unit: " + std::string(SizeUnits) + " (e.g. " + text +
                  "B)");
    return std::nullopt;
  case UnitError::UnknownUnit:
    r.problem(node, path, "size '" + text + "' has an unknown unit; use " + std::string(SizeUnits));
    return std::nullopt;
  case UnitError::Overflow:
    r.problem(node, path, "size '" + text + "' is too large");
    return std::nullopt;
  case UnitError::BadNumber:
    r.problem(node, path,
              "invalid size '" + text + "': expected a whole number and a unit (" +
                  std::string(SizeUnits) + ")");
    return std::nullopt;
  }
  if (v < min || v > max) {
    r.problem(node, path,
              fieldName(path) + " must be between " + formatSize(min) + " and " + formatSize(max) +
                  " (got " + text + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<Address> readAddress(Reader& r, const YAML::Node& node, const std::string& path,
                                   bool allowPortZero) {
  if (!node.IsScalar()) {
    r.problem(node, path, "expected an address such as 127.0.0.1:8080, got " + describe(node));
    return std::nullopt;
  }
  Address a;
  std::string why;
  if (!parseAddress(node.Scalar(), a, why)) {
    r.problem(node, path, "invalid address '" + node.Scalar() + "': " + why);
    return std::nullopt;
  }
  if (a.port() == 0 && !allowPortZero) {
    r.problem(node, path, "port must be between 1 and 65535 (got 0 in '" + node.Scalar() + "')");
    return std::nullopt;
  }
  return a;
}

std::optional<std::size_t> readChoice(Reader& r, const YAML::Node& node, const std::string& path,
                                      std::span<const std::string_view> names) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      list += i + 1 == names.size() ? " or " : ", ";
    list += names[i];
  }
  if (!node.IsScalar()) {
    r.problem(node, path, "expected " + list + ", got " + describe(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == text)
      return i;
  r.problem(node, path,
            "invalid " + fieldName(path) + " '" + text + "' (expected " + list + ")" +
                didYouMean(text, names));
  return std::nullopt;
}

std::string formatSize(std::size_t bytes) {
  static constexpr std::pair<std::size_t, const char*> units[] = {
      {std::size_t(1) << 30, "GiB"}, {std::size_t(1) << 20, "MiB"}, {std::size_t(1) << 10, "KiB"}};
  for (const auto& [factor, suffix] : units)
    if (bytes != 0 && bytes % factor == 0)
      return std::to_string(bytes / factor) + suffix;
  return std::to_string(bytes) + "B";
}

} // namespace ringway::config
