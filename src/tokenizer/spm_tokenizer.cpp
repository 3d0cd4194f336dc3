// SpmTokenizer: llama.cpp's llm_tokenizer_spm_session, a bigram merge by piece score.
#include "tokenizer/spm_tokenizer.h"

#include "tokenizer/utf8.h"

#include <algorithm>
#include <queue>

namespace retort {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

}  // namespace

Result<std::unique_ptr<Tokenizer>> SpmTokenizer::create(const GgufFile& f) {
    std::unique_ptr<SpmTokenizer> t(new SpmTokenizer());
    Defaults d;
    d.bos = 1;
    d.eos = 2;
    d.unk = 0;
    d.add_bos = true;
    d.add_space_prefix = true;
    RETORT_TRY(t->load_vocab(f, d, /*want_scores=*/true));
    for (int b = 0; b < 256; ++b) {
        static constexpr char kHex[] = "0123456789ABCDEF";
        const char name[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
        int32_t id = t->text_to_token(std::string_view(name, 6));
        if (id < 0) id = t->text_to_token(std::string(1, (char)b));
        if (id < 0) id = t->unk_;
        t->byte_token_[b] = id;
    }
    t->finish_load();
    return std::unique_ptr<Tokenizer>(std::move(t));
}

std::string SpmTokenizer::normal_piece(int32_t id) const {
    const std::string& text = pieces_[(size_t)id];
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, kSpace.size(), kSpace) == 0) {
            out.push_back(' ');
            i += kSpace.size();
        } else {
            out.push_back(text[i++]);
        }
    }
    return out;
}

void SpmTokenizer::encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const {
    // The text SentencePiece sees: a leading space at the start and after a special token,
    // every space made visible.
    std::string s;
    s.reserve(text.size() + 8);
    if (add_space_prefix_ && after_special) s.append(kSpace);
    for (char c : text) {
        if (c == ' ')
            s.append(kSpace);
        else
            s.push_back(c);
    }
    if (s.empty()) return;

    // One symbol per UTF-8 character (by its lead byte; a cut-off sequence keeps what is left).
    struct Symbol {
        int32_t prev, next;
        uint32_t off, n;  // n == 0: merged into its left neighbour
    };
    std::vector<Symbol> sym;
    sym.reserve(s.size());
    for (size_t off = 0; off < s.size();) {
        const size_t n = std::min(utf8::seq_len((uint8_t)s[off]), s.size() - off);
        const int32_t idx = (int32_t)sym.size();
        sym.push_back({idx - 1, off + n == s.size() ? -1 : idx + 1, (uint32_t)off, (uint32_t)n});
        off += n;
    }

    // Highest score first; on a tie the leftmost pair (llama_bigram_spm::comparator).
    struct Bigram {
        float score;
        int32_t left, right;
        uint32_t size;
    };
    const auto lower = [](const Bigram& a, const Bigram& b) {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(lower)> queue(lower);
    const auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const std::string_view pair(s.data() + sym[(size_t)left].off, sym[(size_t)left].n + sym[(size_t)right].n);
        const int32_t id = text_to_token(pair);
        if (id < 0) return;
        queue.push({scores_[(size_t)id], left, right, (uint32_t)pair.size()});
    };
    for (int32_t i = 1; i < (int32_t)sym.size(); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = sym[(size_t)b.left];
        Symbol& r = sym[(size_t)b.right];
        // Stale: one side was merged away or grew since the pair was queued.
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[(size_t)r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    // Every merged symbol is a token; a single character that is not falls back to bytes.
    for (int32_t i = 0; i != -1; i = sym[(size_t)i].next) {
        const Symbol& x = sym[(size_t)i];
        const int32_t id = text_to_token(std::string_view(s.data() + x.off, x.n));
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (uint32_t k = 0; k < x.n; ++k) {
            const int32_t bt = byte_token_[(uint8_t)s[x.off + k]];
            if (bt >= 0) out.push_back(bt);
        }
    }
}

}  // namespace retort
