#include "support/json.h"

#include <cctype>
#include <stdexcept>
#include <string>

namespace ringway::testsupport {

const Json* Json::get(const std::string& key) const {
  if (!isObject())
    return nullptr;
  const auto it = object().find(key);
  return it == object().end() ? nullptr : &it->second;
}

namespace {

class JsonParser {
public:
  JsonParser(std::string_view s, const JsonOptions& o) : s_(s), o_(o) {}
  Json document() {
    Json j = value();
    ws();
    if (i_ != s_.size())
      fail("trailing characters");
    return j;
  }

private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("json: ") + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    if (o_.compact)
      return; // a blank is then an unexpected character
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c))
      fail("unexpected character");
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w)
      return false;
    i_ += w.size();
    return true;
  }
  Json value() {
    if (++depth_ > 200)
      fail("nested too deep");
    ws();
    if (i_ >= s_.size())
      fail("unexpected end");
    Json j;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      Json::Object o;
      if (!eat('}')) {
        do {
          ws();
          std::string k = string();
          expect(':');
          o.emplace(std::move(k), value());
        } while (eat(','));
        expect('}');
      }
      j.v = std::move(o);
    } else if (c == '[') {
      ++i_;
      Json::Array a;
      if (!eat(']')) {
        do
          a.push_back(value());
        while (eat(','));
        expect(']');
      }
      j.v = std::move(a);
    } else if (c == '"') {
      j.v = string();
    } else if (literal("true")) {
      j.v = true;
    } else if (literal("false")) {
      j.v = false;
    } else if (literal("null")) {
      j.v = nullptr;
    } else {
      const std::size_t start = i_;
      j.v = number();
      j.literal = std::string(s_.substr(start, i_ - start));
    }
    --depth_;
    return j;
  }
  double number() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-')
      ++i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    if (i_ == start)
      fail("unexpected character");
    const std::string t(s_.substr(start, i_ - start));
    std::size_t used = 0;
    const double d = std::stod(t, &used);
    if (used != t.size())
      fail("bad number");
    return d;
  }
  std::string string() {
    if (i_ >= s_.size() || s_[i_] != '"')
      fail("expected a string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      const char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20)
        fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size())
        fail("unexpected end");
      const char e = s_[i_++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (i_ + 4 > s_.size())
          fail("bad \\u escape");
        const unsigned cp =
            static_cast<unsigned>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
        i_ += 4;
        if (o_.bytesEscapes) {
          if (cp >= 0x100)
            fail("\\u escape above 0xFF");
          out += static_cast<char>(cp);
        } else if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else { // surrogates are kept as three-byte sequences: good enough for tests
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        fail("bad escape");
      }
    }
    if (i_ >= s_.size())
      fail("unterminated string");
    ++i_;
    return out;
  }

  std::string_view s_;
  JsonOptions o_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

} // namespace

Json parseJson(std::string_view text, const JsonOptions& options) {
  return JsonParser(text, options).document();
}

} // namespace ringway::testsupport
