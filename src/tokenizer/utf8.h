// UTF-8 helpers for the tokenizers: llama.cpp's lenient decoding (a byte that does not start a
// well-formed sequence becomes U+FFFD and is skipped), encoding, and sequence lengths.
// Private to src/tokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace retort::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Bytes a sequence claims from its first byte alone (llama.cpp's unicode_len_utf8): a stray
// continuation byte counts as 1.
inline size_t seq_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

inline bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Decodes one code point at `pos` and advances past it. Follows llama.cpp: the lead byte picks
// the length, the continuation bytes must be present and 10xxxxxx; overlong forms and
// surrogates are accepted as decoded. Anything else yields U+FFFD and advances one byte.
inline uint32_t decode_lenient(std::string_view s, size_t& pos) {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[pos + k]); };
    const uint8_t b0 = b(0);
    if (b0 < 0x80) { pos += 1; return b0; }
    if ((b0 & 0x40) == 0) { pos += 1; return kReplacement; }
    if ((b0 & 0x20) == 0) {
        if (pos + 1 >= s.size() || !is_cont(b(1))) { pos += 1; return kReplacement; }
        const uint32_t c = ((b0 & 0x1Fu) << 6) | (b(1) & 0x3Fu);
        pos += 2;
        return c;
    }
    if ((b0 & 0x10) == 0) {
        if (pos + 2 >= s.size() || !is_cont(b(1)) || !is_cont(b(2))) { pos += 1; return kReplacement; }
        const uint32_t c = ((b0 & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
        pos += 3;
        return c;
    }
    if ((b0 & 0x08) == 0) {
        if (pos + 3 >= s.size() || !is_cont(b(1)) || !is_cont(b(2)) || !is_cont(b(3))) {
            pos += 1;
            return kReplacement;
        }
        const uint32_t c = ((b0 & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) |
                           (b(3) & 0x3Fu);
        pos += 4;
        return c;
    }
    pos += 1;
    return kReplacement;
}

// Appends the shortest encoding of `cpt` (up to 0x1FFFFF: whatever decode_lenient can yield).
inline void append(std::string& out, uint32_t cpt) {
    if (cpt < 0x80) {
        out.push_back(static_cast<char>(cpt));
    } else if (cpt < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else if (cpt < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | ((cpt >> 18) & 0x07)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    }
}

// Length of the well-formed (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) sequence at
// `pos`; 0 when the bytes there are not one, or are cut short by the end of `s`.
inline size_t valid_seq_len(std::string_view s, size_t pos) {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[pos + k]); };
    const uint8_t b0 = b(0);
    if (b0 < 0x80) return 1;
    size_t n = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (pos + n > s.size()) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (!is_cont(b(k))) return 0;
    return n;
}

inline bool is_valid(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
        // ASCII fast path, 8 bytes at a time.
        while (pos + 8 <= s.size()) {
            uint64_t w;
            __builtin_memcpy(&w, s.data() + pos, 8);
            if (w & 0x8080808080808080ull) break;
            pos += 8;
        }
        if (pos >= s.size()) break;
        const size_t n = valid_seq_len(s, pos);
        if (n == 0) return false;
        pos += n;
    }
    return true;
}

}  // namespace retort::utf8
