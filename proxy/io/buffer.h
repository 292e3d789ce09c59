// BufferRef: a move-only handle on one pooled buffer; dropping it returns the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace ringway::io {

class BufferPool {
 public:
  virtual void release(uint32_t id) = 0;

 protected:
  ~BufferPool() = default;
};

class BufferRef {
 public:
  BufferRef() = default;
  BufferRef(BufferPool* pool, uint32_t id, char* data, uint32_t len)
      : pool_(pool), data_(data), id_(id), len_(len) {}
  BufferRef(BufferRef&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), data_(o.data_), id_(o.id_), len_(o.len_) {}
  BufferRef& operator=(BufferRef&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = std::exchange(o.pool_, nullptr);
      data_ = o.data_;
      id_ = o.id_;
      len_ = o.len_;
    }
    return *this;
  }
  BufferRef(const BufferRef&) = delete;
  BufferRef& operator=(const BufferRef&) = delete;
  ~BufferRef() { reset(); }

  void reset() {
    if (pool_ != nullptr) std::exchange(pool_, nullptr)->release(id_);
  }
  explicit operator bool() const { return pool_ != nullptr; }
  char* data() const { return data_; }
  uint32_t size() const { return len_; }
  uint32_t id() const { return id_; }
  // Drop n bytes from the front (after a short send).
  void consume(uint32_t n) {
    data_ += n;
    len_ -= n;
  }

 private:
  BufferPool* pool_ = nullptr;
  char* data_ = nullptr;
  uint32_t id_ = 0;
  uint32_t len_ = 0;
};

}  // namespace ringway::io
