// Tokenizer::from_gguf picks the implementation named by tokenizer.ggml.model; the shared
// queries and the streaming detokenizer live here.
#include "tokenizer/tokenizer.h"

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/utf8.h"

#include <algorithm>

namespace retort {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& file) {
    auto model = file.get_string("tokenizer.ggml.model");
    if (!model.ok()) return model.error();
    if (!model.value().has_value())
        return Error::bad_file(file.path(), "no tokenizer.ggml.model: the file has no vocabulary");
    const std::string_view name = *model.value();
    if (name == "llama") return SpmTokenizer::create(file);
    if (name == "gpt2") return BpeTokenizer::create(file);
    return Error::make(ErrorKind::kUnsupported,
                       "{}: tokenizer.ggml.model '{}' is not supported (known: 'llama' = SentencePiece, "
                       "'gpt2' = byte-level BPE)",
                       file.path(), name);
}

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

bool Tokenizer::is_special(int32_t id) const {
    if (id < 0 || id >= n_vocab()) return false;
    const TokenType t = types_[(size_t)id];
    return t == TokenType::kControl || t == TokenType::kUnknown;
}

int32_t Tokenizer::find_token(std::string_view text) const {
    return token_ids_.find(text);
}

std::string StreamDecoder::push(int32_t id) {
    std::string piece = tok_.token_to_piece(id, unparse_special_);
    // Same rule as decode(): a SentencePiece text loses the space of its first piece.
    if (first_) {
        if (tok_.add_space_prefix() && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        first_ = false;
    }
    pending_ += piece;

    // Hold back a trailing sequence whose lead byte announces more bytes than have arrived.
    size_t cut = pending_.size();
    for (size_t k = 1; k <= 3 && k <= pending_.size(); ++k) {
        const auto b = static_cast<uint8_t>(pending_[pending_.size() - k]);
        if (utf8::is_cont(b)) continue;
        if (b >= 0xC2 && b <= 0xF4 && utf8::seq_len(b) > k) cut = pending_.size() - k;
        break;
    }
    std::string out = pending_.substr(0, cut);
    pending_.erase(0, cut);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    out.swap(pending_);
    return out;
}

}  // namespace retort
