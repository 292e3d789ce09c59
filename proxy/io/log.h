// One line per event on stderr: time, level, worker id, message.
#pragma once

#include <cstdarg>

namespace ringway::io {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLogLevel(Level level);
bool logEnabled(Level level);
// The worker id shown on lines logged by this thread (-1: "main").
void setLogWorker(int id);
void logf(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ringway::io

#define RW_LOG(level, ...)                                                                \
  do {                                                                                    \
    if (::ringway::io::logEnabled(level)) ::ringway::io::logf(level, __VA_ARGS__);        \
  } while (0)
#define LOG_DEBUG(...) RW_LOG(::ringway::io::Level::Debug, __VA_ARGS__)
#define LOG_INFO(...) RW_LOG(::ringway::io::Level::Info, __VA_ARGS__)
#define LOG_WARN(...) RW_LOG(::ringway::io::Level::Warn, __VA_ARGS__)
#define LOG_ERROR(...) RW_LOG(::ringway::io::Level::Error, __VA_ARGS__)
