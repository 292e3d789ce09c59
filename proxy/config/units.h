// Durations and sizes with mandatory units; the detailed form lets the loader say what is wrong.
#pragma once

#include <cstddef>
#include <string_view>

#include "config/config.h"

namespace ringway::config {

enum class UnitError {
  Ok,
  BadNumber,   // empty, signs, decimals, junk: not "<digits><unit>"
  MissingUnit, // a bare number, e.g. "60"
  UnknownUnit, // "5sec", "16KB"
  Overflow,    // does not fit (see units.cc for the limits)
};

// Units allowed, for messages: "ms, s, m or h" / "B, KiB, MiB or GiB".
inline constexpr std::string_view DurationUnits = "ms, s, m or h";
inline constexpr std::string_view SizeUnits = "B, KiB, MiB or GiB";

UnitError parseDurationDetailed(std::string_view text, Duration& out);
UnitError parseSizeDetailed(std::string_view text, std::size_t& out);

} // namespace ringway::config
