// ResponseBuilder: turns one request's stream of token pieces into OpenAI JSON — the SSE chunks
// of a streamed reply as they come, or the whole chat.completion / text_completion object at the
// end — splitting R1 output into reasoning_content and content, and counting reasoning tokens
// for `usage`. It sees typed pieces and summaries only, never HTTP.
#pragma once

#include "runtime/request.h"
#include "server/api_types.h"
#include "tokenizer/reasoning.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace retort {

struct ResponseMeta {
    std::string id;          // "chatcmpl-…" / "cmpl-…"
    std::string model;       // the name the client sees
    int64_t created = 0;     // unix seconds
    std::string fingerprint; // system_fingerprint
};

class ResponseBuilder {
public:
    // starts_in_reasoning: the prompt leaves the model inside <think> (R1 chat template).
    ResponseBuilder(const ApiRequest& req, const Tokenizer& tok, ResponseMeta meta, bool starts_in_reasoning);

    // Streaming: the chunks these pieces produce (possibly none: text held back).
    std::vector<nlohmann::json> chunks(const std::vector<TokenPiece>& pieces);
    // Streaming: the closing chunks (flushed text, finish_reason, then usage when asked for).
    std::vector<nlohmann::json> final_chunks(const RequestSummary& summary);
    // Not streaming: feed every piece with add(), then the whole response.
    void add(const std::vector<TokenPiece>& pieces);
    nlohmann::json response(const RequestSummary& summary);

    nlohmann::json usage(const RequestSummary& summary) const;
    int64_t reasoning_tokens() const { return n_reasoning_tokens_; }

private:
    struct Delta {
        std::string content, reasoning;
        nlohmann::json logprobs;  // entries for these tokens (chat: array; completion: columns)
        bool empty() const { return content.empty() && reasoning.empty() && logprobs.empty(); }
    };
    Delta consume(const std::vector<TokenPiece>& pieces);
    void split(const std::string& text, Delta& d);
    nlohmann::json chat_logprob_entry(const TokenPiece& p) const;
    void append_completion_logprobs(const TokenPiece& p, nlohmann::json& cols);
    nlohmann::json chunk(const Delta& d, const char* finish_reason);
    nlohmann::json envelope(const char* object) const;

    ApiRequest req_;  // a copy: streamed responses outlive the handler that parsed the request
    const Tokenizer& tok_;
    ResponseMeta meta_;
    bool split_;
    ReasoningSplitter splitter_;
    bool sent_role_ = false;
    int64_t n_reasoning_tokens_ = 0;
    size_t text_offset_ = 0;  // completion logprobs: byte offset of each token in the text
    Delta all_;               // non-streaming accumulation
};

// The JSON text of a value, with invalid UTF-8 (a model may emit any bytes) replaced, never thrown.
std::string dump_json(const nlohmann::json& j);

}  // namespace retort
