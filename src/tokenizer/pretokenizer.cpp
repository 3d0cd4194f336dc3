// PreTokenizer: PCRE2-compiled pre-tokenizer regexes and the split loop.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <array>

namespace retort {

namespace {

// The regexes, in the form llama.cpp writes HF's `(?i:'s|...)`. Qwen2 splits digits one by one;
// Llama-3 keeps runs of up to three:
//   Qwen2:  (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Llama3: the same with \p{N}{1,3}
// llama.cpp runs them with its own Unicode tables (Unicode 15.1) and its own whitespace set.
// To split identically, {L}, {N} and {W} below expand to PCRE2's classes plus what those
// tables have and PCRE2 10.42 (Unicode 14) lacks, and to llama.cpp's whitespace list (PCRE2's
// \s would add U+180E).
constexpr const char* kQwen2Template =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n{L}{N}]?[{L}]+|[{N}]| ?[^{W}{L}{N}]+[\r\n]*|[{W}]*[\r\n]+|[{W}]+(?![^{W}])|[{W}]+)";
constexpr const char* kLlama3Template =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n{L}{N}]?[{L}]+|[{N}]{1,3}| ?[^{W}{L}{N}]+[\r\n]*|[{W}]*[\r\n]+|[{W}]+(?![^{W}])|[{W}]+)";
constexpr const char* kGpt2Template = R"('s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{W}{L}{N}]+|[{W}]+(?![^{W}]))";

constexpr std::string_view kLetters =
    R"(\p{L}\x{1123F}-\x{11240}\x{11F02}\x{11F04}-\x{11F10}\x{11F12}-\x{11F33}\x{1342F}\x{13441}-\x{13446})"
    R"(\x{1B132}\x{1B155}\x{1DF25}-\x{1DF2A}\x{1E030}-\x{1E06D}\x{1E4D0}-\x{1E4EB}\x{2B739}\x{2EBF0}-\x{2EE5D})"
    R"(\x{31350}-\x{323AF})";
constexpr std::string_view kNumbers = R"(\p{N}\x{11F50}-\x{11F59}\x{1D2C0}-\x{1D2D3}\x{1E4F0}-\x{1E4F9})";
constexpr std::string_view kWhitespace =
    R"(\t\n\x0B\f\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string expand(std::string_view tmpl) {
    std::string out;
    for (size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl.compare(i, 3, "{L}") == 0) {
            out += kLetters;
            i += 2;
        } else if (tmpl.compare(i, 3, "{N}") == 0) {
            out += kNumbers;
            i += 2;
        } else if (tmpl.compare(i, 3, "{W}") == 0) {
            out += kWhitespace;
            i += 2;
        } else {
            out += tmpl[i];
        }
    }
    return out;
}

}  // namespace

std::optional<PreTokenizerConfig> pre_tokenizer_config(std::string_view pre) {
    PreTokenizerConfig c;
    if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
        c.regexes = {expand(kQwen2Template)};
        c.clean_spaces = false;
        return c;
    }
    static constexpr std::array<std::string_view, 9> kLlama3Names = {
        "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"};
    for (std::string_view name : kLlama3Names) {
        if (pre == name) {
            c.regexes = {expand(kLlama3Template)};
            c.ignore_merges = true;
            c.add_bos = true;
            return c;
        }
    }
    if (pre == "gpt2") {
        c.regexes = {expand(kGpt2Template)};
        return c;
    }
    return std::nullopt;
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(const std::vector<std::string>& regexes) {
    std::unique_ptr<PreTokenizer> p(new PreTokenizer());
    for (const std::string& re : regexes) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                         PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
        if (code == nullptr) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return Error::bad_argument("pre-tokenizer regex does not compile at offset {}: {} (regex: {})",
                                       (size_t)err_off, reinterpret_cast<const char*>(msg), re);
        }
        p->codes_.push_back(code);
        // Without JIT (unsupported CPU, or disabled in the library) the interpreter is used.
        p->jit_.push_back(pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0);
    }
    return p;
}

PreTokenizer::~PreTokenizer() {
    for (pcre2_code* c : codes_) pcre2_code_free(c);
}

void PreTokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>>& words) const {
    if (codes_.empty()) {
        if (!text.empty()) words.emplace_back(0, text.size());
        return;
    }
    if (codes_.size() == 1) {
        split_one(0, text, 0, words);
        return;
    }
    // Each further regex sees the pieces of the previous one separately.
    std::vector<std::pair<size_t, size_t>> cur{{0, text.size()}}, next;
    for (size_t k = 0; k < codes_.size(); ++k) {
        next.clear();
        for (const auto& [b, e] : cur) split_one(k, text.substr(b, e - b), b, next);
        cur.swap(next);
    }
    words.insert(words.end(), cur.begin(), cur.end());
}

void PreTokenizer::split_one(size_t k, std::string_view text, size_t base,
                             std::vector<std::pair<size_t, size_t>>& words) const {
    if (text.empty()) return;
    pcre2_code* code = codes_[k];
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const size_t len = text.size();
    size_t pos = 0;
    while (pos < len) {
        int rc = jit_[k] ? pcre2_jit_match(code, subject, len, pos, 0, md, nullptr)
                         : pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // pathological backtracking: retry interpreted
            rc = pcre2_match(code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break;  // no further match (or a resource limit): the rest is one word
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        if (end <= start) {
            // An empty match (none of our regexes has one): step over one character.
            end = start + 1;
            while (end < len && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) ++end;
        }
        if (start > pos) words.emplace_back(base + pos, base + start);
        words.emplace_back(base + start, base + end);
        pos = end;
    }
    if (pos < len) words.emplace_back(base + pos, base + len);
    pcre2_match_data_free(md);
}

}  // namespace retort
