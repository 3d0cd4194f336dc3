// Small string helpers the graders share: trimming, replacing, UTF-8 walking, and folding the
// Unicode forms models use for math (full-width digits, U+2212 minus, ×, ÷, °) to ASCII.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace retort::eval {

// ASCII 0-9 only (std::isdigit depends on the locale and takes an int).
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
// Replaces every occurrence of `from` (non-empty) by `to`.
std::string replace_all(std::string s, std::string_view from, std::string_view to);
// Splits on '\n'; a trailing '\r' stays with its line.
std::vector<std::string_view> split_lines(std::string_view s);

// Decodes one UTF-8 code point at s[i], advancing i. Invalid bytes decode as themselves
// (one byte, value < 0x100) so that walking never stops early.
uint32_t next_code_point(std::string_view s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);
// CJK ideographs and CJK punctuation (U+3000-U+303F, U+FF00-U+FFEF are folded first).
bool is_cjk(uint32_t cp);

// Full-width ASCII (U+FF01-U+FF5E) to ASCII, ideographic space to ' ', U+2212 and dashes to
// '-', × to "\times", ÷ to "\div", ° to "^\circ", Chinese list comma and full stop to ',' '.'.
std::string fold_unicode(std::string_view s);

// Keeps the first `max_bytes` bytes (cut on a UTF-8 boundary).
std::string clip_utf8(std::string_view s, size_t max_bytes);
// Keeps the last `max_bytes` bytes (cut on a UTF-8 boundary).
std::string tail_utf8(std::string_view s, size_t max_bytes);

}  // namespace retort::eval
