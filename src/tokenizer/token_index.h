// TokenIndex: token text -> id, a flat open-addressing table over the vocab's own strings
// (150k+ entries are looked up ~1M times while loading merges; node-based maps miss cache).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace retort {

class TokenIndex {
public:
    // `texts` must outlive the index and stay unchanged. A repeated text maps to its last id.
    void build(const std::vector<std::string>& texts) {
        texts_ = &texts;
        const size_t cap = std::bit_ceil(std::max<size_t>(16, texts.size() * 2));
        slots_.assign(cap, Slot{0, -1});
        mask_ = cap - 1;
        for (size_t i = 0; i < texts.size(); ++i) {
            const uint64_t h = hash(texts[i]);
            for (size_t s = h & mask_;; s = (s + 1) & mask_) {
                Slot& slot = slots_[s];
                if (slot.id < 0) {
                    slot = Slot{(uint32_t)(h >> 32), (int32_t)i};
                    break;
                }
                if (slot.tag == (uint32_t)(h >> 32) && texts[(size_t)slot.id] == texts[i]) {
                    slot.id = (int32_t)i;
                    break;
                }
            }
        }
    }

    int32_t find(std::string_view text) const {
        if (slots_.empty()) return -1;
        const uint64_t h = hash(text);
        const uint32_t tag = (uint32_t)(h >> 32);
        for (size_t s = h & mask_;; s = (s + 1) & mask_) {
            const Slot& slot = slots_[s];
            if (slot.id < 0) return -1;
            if (slot.tag == tag && (*texts_)[(size_t)slot.id] == text) return slot.id;
        }
    }

    static uint64_t hash(std::string_view s) {
        // 8 bytes at a time, multiply-xorshift mixing; good enough for token texts.
        constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
        uint64_t h = s.size() * kMul;
        size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * kMul;
            h ^= h >> 29;
        }
        uint64_t tail = 0;
        std::memcpy(&tail, s.data() + i, s.size() - i);
        h = (h ^ tail) * kMul;
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93ull;
        h ^= h >> 32;
        return h;
    }

private:
    struct Slot {
        uint32_t tag;  // high half of the hash
        int32_t id;    // -1: free
    };
    const std::vector<std::string>* texts_ = nullptr;
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

}  // namespace retort
