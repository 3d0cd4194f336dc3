// VocabTokenizer: loading the token table the way llama.cpp's llama_vocab::load does, the
// special-token split of the input (tokenizer_st_partition) and llama_detokenize.
#include "tokenizer/vocab_tokenizer.h"

#include <algorithm>
#include <limits>
#include <set>

namespace retort {

namespace {

// Texts llama.cpp recognises when the GGUF does not name the id (llama_vocab::load); the first
// one present wins.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
    "<|code_prefix|>", "<|prefix|>",
};
constexpr std::string_view kFimSufTexts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>",
};
constexpr std::string_view kFimMidTexts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
    "<|code_middle|>", "<|middle|>",
};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};

// Every token with one of these texts ends generation (llama.cpp's special_eog_ids rule).
// `</s>` is on the list, which is why Qwen's ordinary `</s>` (128247) becomes a CONTROL EOG token.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
};

// gpt-oss control tokens that llama.cpp always renders (forced to USER_DEFINED).
constexpr std::string_view kAlwaysRenderTexts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

uint8_t attr_from_type(int64_t t) {
    switch (t) {
        case 1: return VocabTokenizer::kAttrNormal;
        case 2: return VocabTokenizer::kAttrUnknown;
        case 3: return VocabTokenizer::kAttrControl;
        case 4: return VocabTokenizer::kAttrUserDefined;
        case 5: return VocabTokenizer::kAttrUnused;
        case 6: return VocabTokenizer::kAttrByte;
        default: return 0;  // UNDEFINED: renders as nothing
    }
}

}  // namespace

Status VocabTokenizer::load_vocab(const GgufFile& f, const Defaults& d, bool want_scores) {
    path_ = f.path();
    auto toks = f.get_string_array("tokenizer.ggml.tokens");
    if (!toks.ok()) return toks.error();
    if (!toks.value().has_value() || toks.value()->empty())
        return Error::bad_file(path_, "no tokenizer.ggml.tokens: the file has no vocabulary");
    const std::vector<std::string_view>& words = *toks.value();
    if (words.size() > (size_t)std::numeric_limits<int32_t>::max())
        return Error::bad_file(path_, "tokenizer.ggml.tokens has {} entries, more than int32 ids allow",
                               words.size());
    const size_t n = words.size();

    auto types = f.get_int_array("tokenizer.ggml.token_type");
    if (!types.ok()) return types.error();
    if (types.value().has_value() && types.value()->size() < n)
        return Error::bad_file(path_, "tokenizer.ggml.token_type has {} entries, expected {} (one per token)",
                               types.value()->size(), n);
    if (want_scores) {
        auto sc = f.get_float_array("tokenizer.ggml.scores");
        if (!sc.ok()) return sc.error();
        if (sc.value().has_value()) {
            if (sc.value()->size() < n)
                return Error::bad_file(path_, "tokenizer.ggml.scores has {} entries, expected {} (one per token)",
                                       sc.value()->size(), n);
            scores_ = std::move(*sc.value());
            scores_.resize(n);
        } else {
            scores_.assign(n, 0.0f);
        }
    }

    pieces_.resize(n);
    attrs_.resize(n);
    types_.resize(n);
    for (size_t i = 0; i < n; ++i) {
        // llama.cpp renames empty texts so that every text maps back to one id.
        pieces_[i] = words[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : std::string(words[i]);
        const int64_t t = types.value().has_value() ? (*types.value())[i] : 1;
        attrs_[i] = attr_from_type(t);
        types_[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::kUndefined;
    }
    // pieces_ is final from here on: the index refers to it. A repeated text maps to its last
    // id, as llama.cpp's token_to_id does.
    token_ids_.build(pieces_);

    // Special ids: the vocab kind's defaults, then the GGUF keys. Out-of-range values are
    // ignored (stories260K stores 0xFFFFFFFF for "none"), as llama.cpp does.
    const auto in_range = [&](int64_t id) { return id >= 0 && id < (int64_t)n; };
    bos_ = in_range(d.bos) ? d.bos : -1;
    eos_ = in_range(d.eos) ? d.eos : -1;
    unk_ = in_range(d.unk) ? d.unk : -1;
    eot_ = -1;
    int32_t eom = -1, fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    const std::pair<std::string_view, int32_t*> id_keys[] = {
        {"tokenizer.ggml.bos_token_id", &bos_},         {"tokenizer.ggml.eos_token_id", &eos_},
        {"tokenizer.ggml.eot_token_id", &eot_},         {"tokenizer.ggml.eom_token_id", &eom},
        {"tokenizer.ggml.unknown_token_id", &unk_},     {"tokenizer.ggml.fim_pre_token_id", &fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &fim_suf},  {"tokenizer.ggml.fim_mid_token_id", &fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &fim_pad},  {"tokenizer.ggml.fim_rep_token_id", &fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &fim_sep},  {"tokenizer.ggml.prefix_token_id", &fim_pre},
        {"tokenizer.ggml.suffix_token_id", &fim_suf},   {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    for (const auto& [key, id] : id_keys) {
        auto v = f.get_int(key);
        if (!v.ok()) return v.error();
        if (v.value().has_value() && in_range(*v.value())) *id = (int32_t)*v.value();
    }

    add_bos_ = d.add_bos;
    add_eos_ = d.add_eos;
    add_space_prefix_ = d.add_space_prefix;
    clean_spaces_ = d.clean_spaces;
    const std::pair<std::string_view, bool*> flag_keys[] = {
        {"tokenizer.ggml.add_bos_token", &add_bos_},
        {"tokenizer.ggml.add_eos_token", &add_eos_},
        {"tokenizer.ggml.add_space_prefix", &add_space_prefix_},
    };
    for (const auto& [key, flag] : flag_keys) {
        auto v = f.get_bool(key);
        if (!v.ok()) return v.error();
        if (v.value().has_value()) *flag = *v.value();
    }

    const auto make_control = [&](int32_t id) {
        if (!(attrs_[id] & kAttrControl)) {
            attrs_[id] |= kAttrControl;
            types_[id] = TokenType::kControl;
        }
    };
    // Ids not given by keys are found by text; such tokens are forced to CONTROL.
    const auto detect = [&](int32_t& id, const auto& texts) {
        if (id >= 0) return;
        for (std::string_view t : texts) {
            if (int32_t found = text_to_token(t); found >= 0) {
                id = found;
                make_control(found);
                return;
            }
        }
    };
    detect(eot_, kEotTexts);
    detect(eom, kEomTexts);
    detect(fim_pre, kFimPreTexts);
    detect(fim_suf, kFimSufTexts);
    detect(fim_mid, kFimMidTexts);
    detect(fim_pad, kFimPadTexts);
    detect(fim_rep, kFimRepTexts);
    detect(fim_sep, kFimSepTexts);

    // CONTROL tokens named "...unused..." are also UNUSED.
    for (size_t i = 0; i < n; ++i)
        if ((attrs_[i] & kAttrControl) && pieces_[i].find("unused") != std::string::npos)
            attrs_[i] |= kAttrUnused;

    std::set<int32_t> eog;
    for (int32_t id : {fim_pad, fim_rep, fim_sep})
        if (id >= 0) eog.insert(id);
    for (std::string_view t : kEogTexts) {
        if (int32_t id = text_to_token(t); id >= 0) {
            eog.insert(id);
            make_control(id);
        }
    }
    for (std::string_view t : kAlwaysRenderTexts) {
        if (int32_t id = text_to_token(t); id >= 0) {
            attrs_[id] = kAttrUserDefined;
            types_[id] = TokenType::kUserDefined;
        }
    }
    for (int32_t id : {eos_, eot_, eom})
        if (id >= 0) eog.insert(id);
    // o200k_harmony / solar-open: with <|return|>+<|call|> or <|calls|>+<|flush|>, <|end|> is
    // not EOG (llama.cpp's workaround).
    {
        const auto has = [&](std::string_view t) {
            int32_t id = text_to_token(t);
            return id >= 0 && eog.count(id) > 0;
        };
        const bool has_call = has("<|call|>") || has("<|calls|>");
        if (has("<|end|>") && ((has("<|return|>") && has_call) || (has_call && has("<|flush|>")))) {
            const int32_t end_id = text_to_token("<|end|>");
            eog.erase(end_id);
            attrs_[end_id] = kAttrUserDefined;
            types_[end_id] = TokenType::kUserDefined;
        }
        // gemma4 / paddleocr: with <|tool_response>, </s> is not EOG.
        if (has("<|tool_response>") && has("</s>")) {
            const int32_t s_id = text_to_token("</s>");
            eog.erase(s_id);
            attrs_[s_id] = kAttrNormal;
            types_[s_id] = TokenType::kNormal;
        }
    }
    eog_.assign(eog.begin(), eog.end());
    return ok_status();
}

void VocabTokenizer::finish_load() {
    const size_t n = pieces_.size();
    special_order_.clear();
    for (size_t i = 0; i < n; ++i)
        if (attrs_[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_order_.push_back((int32_t)i);
    std::stable_sort(special_order_.begin(), special_order_.end(), [&](int32_t a, int32_t b) {
        return pieces_[(size_t)a].size() > pieces_[(size_t)b].size();
    });

    trie_.assign(1, TrieNode{});
    std::fill(std::begin(first_byte_), std::end(first_byte_), false);
    for (size_t r = 0; r < special_order_.size(); ++r) {
        const std::string& text = pieces_[(size_t)special_order_[r]];
        first_byte_[(uint8_t)text[0]] = true;
        int32_t node = 0;
        for (char c : text) {
            const uint8_t b = (uint8_t)c;
            int32_t child = -1;
            for (const auto& [byte, idx] : trie_[(size_t)node].next)
                if (byte == b) { child = idx; break; }
            if (child < 0) {
                child = (int32_t)trie_.size();
                trie_[(size_t)node].next.emplace_back(b, child);
                trie_.emplace_back();
            }
            node = child;
        }
        trie_[(size_t)node].rank = (int32_t)r;
    }

    piece_cache_.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const uint8_t a = attrs_[i];
        std::string& p = piece_cache_[i];
        if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
            p = pieces_[i];
        } else if (a & kAttrNormal) {
            p = normal_piece((int32_t)i);
        } else if (a & kAttrByte) {
            const int32_t b = byte_from_piece((int32_t)i);
            p = b >= 0 ? std::string(1, (char)b) : std::string();
        } else {
            p.clear();  // UNUSED, UNDEFINED: nothing
        }
    }
}

int32_t VocabTokenizer::byte_from_piece(int32_t id) const {
    const std::string& t = pieces_[(size_t)id];
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    const int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::vector<VocabTokenizer::Fragment> VocabTokenizer::partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags{{-1, 0, text.size()}};
    if (special_order_.empty()) return frags;

    // One pass over the input finds which special texts occur at all; usually none do.
    std::vector<uint8_t> present(special_order_.size(), 0);
    bool any = false;
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    for (size_t i = 0; i < text.size(); ++i) {
        if (!first_byte_[p[i]]) continue;
        int32_t node = 0;
        for (size_t j = i; j < text.size(); ++j) {
            int32_t child = -1;
            for (const auto& [byte, idx] : trie_[(size_t)node].next)
                if (byte == p[j]) { child = idx; break; }
            if (child < 0) break;
            node = child;
            if (trie_[(size_t)node].rank >= 0) {
                present[(size_t)trie_[(size_t)node].rank] = 1;
                any = true;
            }
        }
    }
    if (!any) return frags;

    // llama.cpp's order: each special text in turn, longest first, splits every remaining raw
    // fragment at all of its occurrences, left to right.
    std::vector<Fragment> next;
    for (size_t r = 0; r < special_order_.size(); ++r) {
        if (!present[r]) continue;
        const int32_t id = special_order_[r];
        // Without parse_special only USER_DEFINED texts (<think>, ...) are matched.
        if (!parse_special && (attrs_[(size_t)id] & (kAttrControl | kAttrUnknown))) continue;
        const std::string_view tok = pieces_[(size_t)id];
        next.clear();
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t off = f.off;
            const size_t end = f.off + f.len;
            const std::string_view window = text.substr(0, end);
            while (off < end) {
                const size_t m = window.find(tok, off);
                if (m == std::string_view::npos) break;
                if (m > off) next.push_back({-1, off, m - off});
                next.push_back({id, m, tok.size()});
                off = m + tok.size();
            }
            if (off < end) next.push_back({-1, off, end - off});
        }
        frags.swap(next);
    }
    return frags;
}

std::vector<int32_t> VocabTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    // add_bos is llama.cpp's add_special: BOS/EOS as the vocab asks.
    if (add_bos && add_bos_ && bos_ >= 0) out.push_back(bos_);
    if (!text.empty()) {
        bool after_special = true;
        for (const Fragment& f : partition(text, parse_special)) {
            if (f.token >= 0) {
                out.push_back(f.token);
                after_special = true;
            } else {
                encode_fragment(text.substr(f.off, f.len), after_special, out);
                after_special = false;
            }
        }
    }
    if (add_bos && add_eos_ && eos_ >= 0) out.push_back(eos_);
    return out;
}

std::string VocabTokenizer::token_to_piece(int32_t id, bool unparse_special) const {
    if (id < 0 || id >= n_vocab()) return {};
    if (!unparse_special && (attrs_[(size_t)id] & (kAttrUnknown | kAttrControl))) return {};
    return piece_cache_[(size_t)id];
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids, bool remove_special,
                                   bool unparse_special) const {
    size_t first = 0, last = ids.size();
    // A SentencePiece text starts with the space the encoder prepended; drop it, unless a
    // removed BOS says the space belongs to the text.
    bool remove_space = add_space_prefix_;
    if (remove_special && add_bos_ && last > first && ids[first] == bos_) {
        remove_space = false;
        ++first;
    }
    if (remove_special && add_eos_ && last > first && ids[last - 1] == eos_) --last;

    std::string out;
    for (size_t i = first; i < last; ++i) {
        const int32_t id = ids[i];
        std::string_view piece;
        if (id >= 0 && id < n_vocab() &&
            (unparse_special || !(attrs_[(size_t)id] & (kAttrUnknown | kAttrControl))))
            piece = piece_cache_[(size_t)id];
        if (remove_space && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
        remove_space = false;
        out.append(piece);
    }
    if (clean_spaces_) clean_up_spaces(out);
    return out;
}

// llama_detokenize's clean-up for BPE vocabs like llama-bpe, pass for pass: it edits in place,
// so a later check can see a byte an earlier step overwrote, and the result depends on that.
void VocabTokenizer::clean_up_spaces(std::string& t) const {
    if (t.empty()) return;
    size_t n = t.size(), total = 1;
    // 1: " ?", " !", " .", " ," lose the space.
    for (size_t i = 1; i < n; ++i) {
        const char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
        t[total++] = x;
    }
    // 2: a lone apostrophe " ' " loses both spaces; the skipped one is zeroed in place.
    n = total;
    total = 1;
    for (size_t i = 1; i < n; ++i) {
        const char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            --total;
            t[++i] = '\0';
        }
        t[total++] = x;
    }
    // 3: " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
    n = total;
    total = 1;
    for (size_t i = 1; i < n; ++i) {
        const char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            const char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') {
                --total;
            } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
                const char x2 = t[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
            }
        }
        t[total++] = x;
    }
    t.resize(total);
}

}  // namespace retort
