#include "config/units.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "config/loader.h"

namespace ringway::config {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Durations are stored in milliseconds, but the io layer turns them into nanoseconds (timespecs,
// steady_clock deadlines), so the limit is what still fits in int64 nanoseconds (~292 years).
constexpr uint64_t MaxDurationMs = uint64_t(std::numeric_limits<int64_t>::max()) / 1'000'000;

constexpr Unit DurationUnitTable[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};
constexpr Unit SizeUnitTable[] = {
    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};

template <std::size_t N>
UnitError parseWithUnit(std::string_view text, const Unit (&units)[N], uint64_t max,
                        uint64_t& out) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0)
    return UnitError::BadNumber;
  const std::string_view suffix = text.substr(digits);
  if (suffix.empty())
    return UnitError::MissingUnit;
  const Unit* unit = nullptr;
  for (const Unit& u : units)
    if (u.suffix == suffix)
      unit = &u;
  if (unit == nullptr) {
    // "1.5s" or "5 s" is a malformed number rather than an unknown unit.
    const char c = suffix.front();
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return letter ? UnitError::UnknownUnit : UnitError::BadNumber;
  }
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec == std::errc::result_out_of_range)
    return UnitError::Overflow;
  if (ec != std::errc() || end != text.data() + digits)
    return UnitError::BadNumber;
  uint64_t v = 0;
  if (__builtin_mul_overflow(n, unit->factor, &v) || v > max)
    return UnitError::Overflow;
  out = v;
  return UnitError::Ok;
}

} // namespace

UnitError parseDurationDetailed(std::string_view text, Duration& out) {
  uint64_t ms = 0;
  const UnitError e = parseWithUnit(text, DurationUnitTable, MaxDurationMs, ms);
  if (e == UnitError::Ok)
    out = Duration(static_cast<Duration::rep>(ms));
  return e;
}

UnitError parseSizeDetailed(std::string_view text, std::size_t& out) {
  uint64_t bytes = 0;
  const UnitError e =
      parseWithUnit(text, SizeUnitTable, std::numeric_limits<std::size_t>::max(), bytes);
  if (e == UnitError::Ok)
    out = static_cast<std::size_t>(bytes);
  return e;
}

bool parseDuration(const std::string& text, Duration& out) {
  return parseDurationDetailed(text, out) == UnitError::Ok;
}

bool parseSize(const std::string& text, std::size_t& out) {
  return parseSizeDetailed(text, out) == UnitError::Ok;
}

} // namespace ringway::config
