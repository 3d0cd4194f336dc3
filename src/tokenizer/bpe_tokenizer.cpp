// BpeTokenizer: llama.cpp's llm_tokenizer_bpe_session over symbol ids instead of strings.
#include "tokenizer/bpe_tokenizer.h"

#include "tokenizer/utf8.h"

#include <algorithm>
#include <array>
#include <bit>

namespace retort {

namespace {

// GPT-2's byte -> code point table: printable Latin-1 bytes stand for themselves, the other
// 68 bytes take U+0100.. in byte order.
std::array<uint32_t, 256> byte_to_cpt_table() {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        t[b] = printable ? b : next++;
    }
    return t;
}

// The inverse, for code points below 0x144; -1 where no byte maps.
std::array<int16_t, 0x144> cpt_to_byte_table() {
    std::array<int16_t, 0x144> inv;
    inv.fill(-1);
    const auto fwd = byte_to_cpt_table();
    for (int b = 0; b < 256; ++b) inv[fwd[(size_t)b]] = (int16_t)b;
    return inv;
}

uint64_t merge_key(int32_t left, int32_t right) { return (uint64_t)(uint32_t)left << 32 | (uint32_t)right; }

size_t merge_hash(uint64_t key, uint64_t mask) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask; }

}  // namespace

Result<std::unique_ptr<Tokenizer>> BpeTokenizer::create(const GgufFile& f) {
    std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
    auto pre = f.get_string("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.error();
    if (!pre.value().has_value())
        return Error::make(ErrorKind::kUnsupported,
                           "{}: no tokenizer.ggml.pre; a byte-level BPE vocab needs its pre-tokenizer type "
                           "(e.g. 'deepseek-r1-qwen', 'qwen2', 'llama-bpe')",
                           f.path());
    auto cfg = pre_tokenizer_config(*pre.value());
    if (!cfg)
        return Error::make(ErrorKind::kUnsupported,
                           "{}: tokenizer.ggml.pre '{}' is not supported (known: deepseek-r1-qwen, qwen2, "
                           "llama-bpe, llama3, gpt2)",
                           f.path(), *pre.value());
    auto p = PreTokenizer::create(cfg->regexes);
    if (!p.ok()) return p.error();
    t->pre_ = std::move(p.value());
    t->ignore_merges_ = cfg->ignore_merges;

    Defaults d;
    d.bos = 11;  // llama.cpp's gpt2 defaults, normally overridden by the GGUF keys
    d.eos = 11;
    d.add_bos = cfg->add_bos;
    d.clean_spaces = cfg->clean_spaces;
    RETORT_TRY(t->load_vocab(f, d, /*want_scores=*/false));

    const auto fwd = byte_to_cpt_table();
    for (int b = 0; b < 256; ++b) {
        t->byte_char_[b].clear();
        utf8::append(t->byte_char_[b], fwd[(size_t)b]);
        t->byte_symbol_[b] = t->symbol_for(t->byte_char_[b]);
    }
    RETORT_TRY(t->load_merges(f));
    t->finish_load();
    return std::unique_ptr<Tokenizer>(std::move(t));
}

int32_t BpeTokenizer::symbol_for(std::string_view text) {
    if (int32_t id = text_to_token(text); id >= 0) return id;
    auto [it, inserted] = virtual_ids_.try_emplace(std::string(text), n_vocab() + (int32_t)virtual_text_.size());
    if (inserted) virtual_text_.push_back(it->first);
    return it->second;
}

Status BpeTokenizer::load_merges(const GgufFile& f) {
    auto merges = f.get_string_array("tokenizer.ggml.merges");
    if (!merges.ok()) return merges.error();
    if (!merges.value().has_value())
        return Error::bad_file(path(), "no tokenizer.ggml.merges: a byte-level BPE vocab needs its merges");
    const std::vector<std::string_view>& list = *merges.value();
    const size_t cap = std::bit_ceil(std::max<size_t>(16, list.size() + list.size() / 2));
    merges_.assign(cap, MergeSlot{kEmpty, 0, 0});
    merge_mask_ = cap - 1;
    std::string joined;
    for (size_t rank = 0; rank < list.size(); ++rank) {
        const std::string_view m = list[rank];
        // "left right", split at the first space after the first byte (a left part may be a space).
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
        if (sp == std::string_view::npos) continue;  // malformed: llama.cpp's entry can never match
        const std::string_view a = m.substr(0, sp), b = m.substr(sp + 1);
        if (b.empty()) continue;
        joined.assign(a).append(b);
        const int32_t left = symbol_for(a), right = symbol_for(b), result = symbol_for(joined);
        const uint64_t key = merge_key(left, right);
        for (size_t h = merge_hash(key, merge_mask_);; h = (h + 1) & merge_mask_) {
            if (merges_[h].key == key) break;  // a repeated pair keeps its first (best) rank
            if (merges_[h].key == kEmpty) {
                merges_[h] = MergeSlot{key, (int32_t)rank, result};
                break;
            }
        }
    }
    return ok_status();
}

const BpeTokenizer::MergeSlot* BpeTokenizer::find_merge(int32_t left, int32_t right) const {
    const uint64_t key = merge_key(left, right);
    for (size_t h = merge_hash(key, merge_mask_);; h = (h + 1) & merge_mask_) {
        const MergeSlot& s = merges_[h];
        if (s.key == key) return &s;
        if (s.key == kEmpty) return nullptr;
    }
}

std::string BpeTokenizer::normal_piece(int32_t id) const {
    // llama_decode_text: every code point of the token text is one byte in GPT-2's table.
    static const auto inv = cpt_to_byte_table();
    const std::string& text = pieces_[(size_t)id];
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const uint32_t cpt = utf8::decode_lenient(text, pos);
        if (cpt < inv.size() && inv[cpt] >= 0) {
            out.push_back((char)inv[cpt]);
        } else {
            // llama.cpp's marker for a code point outside the table, byte for byte.
            std::string u;
            utf8::append(u, cpt);
            out += "[UNK_BYTE_0x";
            for (char c : u) out += fmt::format("{:02x}", (uint8_t)c);
            out += text + "]";
        }
    }
    return out;
}

void BpeTokenizer::encode_fragment(std::string_view text, bool /*after_special*/, std::vector<int32_t>& out) const {
    // llama.cpp splits code points decoded leniently (a bad byte becomes U+FFFD) and BPEs their
    // re-encoding. For valid UTF-8 that is the text itself. Otherwise `fixed` is what BPE sees
    // and `match` the same with code points PCRE2 rejects (surrogates, > U+10FFFF) replaced by
    // private-use ones of the same length and regex class.
    std::string fixed, match;
    std::string_view bpe_text = text, match_text = text;
    if (!utf8::is_valid(text)) {
        for (size_t pos = 0; pos < text.size();) {
            const uint32_t cpt = utf8::decode_lenient(text, pos);
            utf8::append(fixed, cpt);
            const bool surrogate = cpt >= 0xD800 && cpt <= 0xDFFF;
            utf8::append(match, surrogate ? 0xE000 : cpt > 0x10FFFF ? 0xF0000 : cpt);
        }
        bpe_text = fixed;
        match_text = match;
    }
    std::vector<std::pair<size_t, size_t>> words;
    words.reserve(bpe_text.size() / 4 + 1);
    pre_->split(match_text, words);
    Scratch scratch;
    for (const auto& [b, e] : words) encode_word(bpe_text.substr(b, e - b), scratch, out);
}

void BpeTokenizer::encode_word(std::string_view word, Scratch& scratch, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        std::string& enc = scratch.text;
        enc.clear();
        for (char c : word) enc += byte_char_[(uint8_t)c];
        if (int32_t id = text_to_token(enc); id >= 0) {
            out.push_back(id);
            return;
        }
    }

    // One symbol per byte (its GPT-2 character); merged-away symbols get id -1.
    std::vector<Symbol>& sym = scratch.sym;
    sym.resize(word.size());
    for (size_t i = 0; i < word.size(); ++i)
        sym[i] = {byte_symbol_[(uint8_t)word[i]], (int32_t)i - 1, i + 1 < word.size() ? (int32_t)i + 1 : -1};

    // Lowest rank first; on a tie the leftmost pair (llm_bigram_bpe::comparator).
    const auto after = [](const Candidate& a, const Candidate& b) {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::vector<Candidate>& heap = scratch.heap;
    heap.clear();
    const auto push = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = sym[(size_t)left].next;
        if (right < 0) return;
        const MergeSlot* m = find_merge(sym[(size_t)left].id, sym[(size_t)right].id);
        if (m == nullptr) return;
        heap.push_back({m->rank, left, sym[(size_t)left].id, sym[(size_t)right].id, m->result});
        std::push_heap(heap.begin(), heap.end(), after);
    };
    for (int32_t i = 0; i + 1 < (int32_t)word.size(); ++i) push(i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), after);
        const Candidate c = heap.back();
        heap.pop_back();
        Symbol& l = sym[(size_t)c.left];
        // Stale when either side changed since the pair was queued (then the text differs too).
        if (l.id != c.left_id || l.next < 0 || sym[(size_t)l.next].id != c.right_id) continue;
        Symbol& r = sym[(size_t)l.next];
        l.id = c.result;
        r.id = -1;
        l.next = r.next;
        if (r.next >= 0) sym[(size_t)r.next].prev = c.left;
        push(l.prev);
        push(c.left);
    }

    for (int32_t i = 0; i != -1; i = sym[(size_t)i].next) {
        const int32_t id = sym[(size_t)i].id;
        if (id < n_vocab()) {
            out.push_back(id);
            continue;
        }
        // A merged text the vocab lacks: llama.cpp looks up each of its bytes alone.
        for (char c : virtual_text_[(size_t)(id - n_vocab())])
            if (int32_t bt = text_to_token(std::string_view(&c, 1)); bt >= 0) out.push_back(bt);
    }
}

}  // namespace retort
