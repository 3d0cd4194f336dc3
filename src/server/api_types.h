// The OpenAI API as typed structs: what a /v1/chat/completions or /v1/completions body asks
// for, once parsed and validated (api_parse.h), and the error a request gets back. Nothing
// here knows HTTP or the model; JSON stays at the edges.
#pragma once

#include "tokenizer/chat_template.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace retort {

// An OpenAI error object with its HTTP status: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
    int status = 400;
    std::string type = "invalid_request_error";
    std::string message;
    std::string param;  // the offending field, "" for none
    std::string code;   // e.g. "invalid_api_key", "model_not_found"; "" for none

    static ApiError bad_request(std::string message, std::string param = "") {
        return {400, "invalid_request_error", std::move(message), std::move(param), ""};
    }
};

enum class ApiKind { kChat, kCompletion };

// How the R1 reply comes back: split into reasoning_content + content (DeepSeek's API), or the
// raw text, <think> and all, in content.
enum class ReasoningFormat { kDeepSeek, kNone };

struct ApiRequest {
    ApiKind kind = ApiKind::kChat;
    std::string model;                     // "" when absent
    std::vector<ChatMessage> messages;     // chat
    std::string prompt;                    // completion, as text
    std::vector<int32_t> prompt_tokens;    // completion, given as token ids instead
    bool prompt_is_tokens = false;

    bool stream = false;
    bool include_usage = false;            // stream_options.include_usage

    // Sampling. OpenAI's defaults (temperature 1, top_p 1) unless the request says otherwise;
    // top_k / min_p / repeat_penalty are llama.cpp extensions, off by default.
    float temperature = 1.0f;
    float top_p = 1.0f;
    int32_t top_k = 0;
    float min_p = 0.0f;
    float repeat_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::optional<uint64_t> seed;

    int64_t max_tokens = -1;               // -1: up to the context
    std::vector<std::string> stop;
    bool ignore_eos = false;               // extension

    bool logprobs = false;
    int top_logprobs = 0;                  // 0..20

    ReasoningFormat reasoning = ReasoningFormat::kDeepSeek;
};

}  // namespace retort
