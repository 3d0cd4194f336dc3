// PreTokenizer: splits text into the words that byte-level BPE merges within, using the
// regexes llama.cpp pairs with each tokenizer.ggml.pre value, run by PCRE2 (UTF + UCP, JIT).
// Private to src/tokenizer.
#pragma once

#include "util/error.h"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace retort {

// What a tokenizer.ggml.pre value means to llama.cpp (llama_vocab::load, llm_tokenizer_bpe).
struct PreTokenizerConfig {
    std::vector<std::string> regexes;  // applied in turn, each to the pieces the previous made
    bool ignore_merges = false;        // a word that is itself a token is not merged
    bool add_bos = false;              // default of tokenizer.ggml.add_bos_token
    bool clean_spaces = true;          // clean_up_tokenization_spaces on decode
};
// nullopt for a value we do not know.
std::optional<PreTokenizerConfig> pre_tokenizer_config(std::string_view pre);

class PreTokenizer {
public:
    static Result<std::unique_ptr<PreTokenizer>> create(const std::vector<std::string>& regexes);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Appends the [begin, end) byte ranges of the words of `text`, which must be valid UTF-8.
    // The words cover the text in order; text no regex matches becomes words of its own.
    void split(std::string_view text, std::vector<std::pair<size_t, size_t>>& words) const;

private:
    PreTokenizer() = default;
    void split_one(size_t k, std::string_view text, size_t base,
                   std::vector<std::pair<size_t, size_t>>& words) const;
    std::vector<pcre2_real_code_8*> codes_;
    std::vector<bool> jit_;
};

}  // namespace retort
