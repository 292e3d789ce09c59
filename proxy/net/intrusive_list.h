// A doubly linked intrusive list: O(1) insert and unlink, no allocation. An object that sits
// in several lists derives from several Link<Tag> bases.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringway::net {

template <class Tag>
struct Link {
  Link* prev = nullptr;
  Link* next = nullptr;
  bool linked() const { return next != nullptr; }
};

template <class T, class Tag>
class List {
 public:
  List() { head_.prev = head_.next = &head_; }
  List(const List&) = delete;
  List& operator=(const List&) = delete;

  bool empty() const { return head_.next == &head_; }
  std::size_t size() const { return size_; }
  T* front() const { return empty() ? nullptr : static_cast<T*>(head_.next); }
  T* back() const { return empty() ? nullptr : static_cast<T*>(head_.prev); }
  void pushBack(T& t) {
    Link<Tag>& l = t;
    if (l.linked()) unlink(t);
    l.prev = head_.prev;
    l.next = &head_;
    head_.prev->next = &l;
    head_.prev = &l;
    ++size_;
  }
  void unlink(T& t) {
    Link<Tag>& l = t;
    if (!l.linked()) return;
    l.prev->next = l.next;
    l.next->prev = l.prev;
    l.prev = l.next = nullptr;
    --size_;
  }
  // Next element after t, or nullptr at the end.
  T* after(T& t) const {
    Link<Tag>& l = t;
    return l.next == &head_ ? nullptr : static_cast<T*>(l.next);
  }

 private:
  Link<Tag> head_;
  std::size_t size_ = 0;
};

}  // namespace ringway::net
