#include "server/response_builder.h"

namespace retort {

using json = nlohmann::json;

namespace {
ReasoningSplitter::Options split_options(bool starts_in_reasoning) {
    ReasoningSplitter::Options o;
    o.start_in_reasoning = starts_in_reasoning;
    return o;
}
}  // namespace

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

ResponseBuilder::ResponseBuilder(const ApiRequest& req, const Tokenizer& tok, ResponseMeta meta,
                                 bool starts_in_reasoning)
    : req_(req),
      tok_(tok),
      meta_(std::move(meta)),
      split_(req.kind == ApiKind::kChat && req.reasoning == ReasoningFormat::kDeepSeek),
      splitter_(split_options(starts_in_reasoning)) {}

json ResponseBuilder::envelope(const char* object) const {
    return json{{"id", meta_.id},
                {"object", object},
                {"created", meta_.created},
                {"model", meta_.model},
                {"system_fingerprint", meta_.fingerprint}};
}

json ResponseBuilder::chat_logprob_entry(const TokenPiece& p) const {
    auto entry = [&](int32_t id, float lp) {
        const std::string piece = tok_.token_to_piece(id, /*unparse_special=*/true);
        json bytes = json::array();
        for (unsigned char c : piece) bytes.push_back((int)c);
        return json{{"token", piece}, {"logprob", lp}, {"bytes", bytes}};
    };
    json e = entry(p.token, p.logprob);
    json top = json::array();
    for (const auto& [id, lp] : p.top) top.push_back(entry(id, lp));
    e["top_logprobs"] = top;
    return e;
}

void ResponseBuilder::append_completion_logprobs(const TokenPiece& p, json& cols) {
    if (cols.empty())
        cols = json{{"tokens", json::array()},
                    {"token_logprobs", json::array()},
                    {"top_logprobs", json::array()},
                    {"text_offset", json::array()}};
    const std::string piece = tok_.token_to_piece(p.token, /*unparse_special=*/true);
    cols["tokens"].push_back(piece);
    cols["token_logprobs"].push_back(p.logprob);
    json top = json::object();
    for (const auto& [id, lp] : p.top) top[tok_.token_to_piece(id, true)] = lp;
    cols["top_logprobs"].push_back(top);
    cols["text_offset"].push_back(text_offset_);
}

void ResponseBuilder::split(const std::string& text, Delta& d) {
    if (!split_) {
        d.content += text;
        return;
    }
    const ReasoningDelta o = splitter_.push(text);
    d.reasoning += o.reasoning;
    d.content += o.content;
}

ResponseBuilder::Delta ResponseBuilder::consume(const std::vector<TokenPiece>& pieces) {
    Delta d;
    for (const TokenPiece& p : pieces) {
        // A token counts as reasoning if it was generated inside <think> (</think> included).
        if (p.token >= 0 && split_ && splitter_.in_reasoning()) ++n_reasoning_tokens_;
        split(p.text, d);
        if (p.token >= 0 && req_.logprobs) {
            if (req_.kind == ApiKind::kChat) {
                if (d.logprobs.empty()) d.logprobs = json::array();
                d.logprobs.push_back(chat_logprob_entry(p));
            } else {
                append_completion_logprobs(p, d.logprobs);
            }
        }
        text_offset_ += p.text.size();
    }
    return d;
}

json ResponseBuilder::chunk(const Delta& d, const char* finish_reason) {
    json c = envelope(req_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion");
    json choice{{"index", 0}, {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)}};
    if (req_.kind == ApiKind::kChat) {
        json delta = json::object();
        if (!sent_role_) {
            delta["role"] = "assistant";
            sent_role_ = true;
        }
        if (!d.content.empty() || (delta.contains("role") && d.reasoning.empty())) delta["content"] = d.content;
        if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
        choice["delta"] = delta;
        choice["logprobs"] = d.logprobs.empty() ? json(nullptr) : json{{"content", d.logprobs}};
    } else {
        choice["text"] = d.content;
        choice["logprobs"] = d.logprobs.empty() ? json(nullptr) : d.logprobs;
    }
    c["choices"] = json::array({choice});
    return c;
}

std::vector<json> ResponseBuilder::chunks(const std::vector<TokenPiece>& pieces) {
    std::vector<json> out;
    Delta d = consume(pieces);
    // The first chunk carries the role even when the first tokens are held back.
    if (!d.empty() || (req_.kind == ApiKind::kChat && !sent_role_)) out.push_back(chunk(d, nullptr));
    return out;
}

std::vector<json> ResponseBuilder::final_chunks(const RequestSummary& s) {
    std::vector<json> out;
    Delta d;
    if (split_) {
        ReasoningDelta o = splitter_.finish();
        d.reasoning = std::move(o.reasoning);
        d.content = std::move(o.content);
    }
    out.push_back(chunk(d, finish_reason_api_name(s.finish)));
    if (req_.include_usage) {
        json u = envelope(req_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion");
        u["choices"] = json::array();
        u["usage"] = usage(s);
        out.push_back(u);
    }
    return out;
}

void ResponseBuilder::add(const std::vector<TokenPiece>& pieces) {
    Delta d = consume(pieces);
    all_.content += d.content;
    all_.reasoning += d.reasoning;
    if (d.logprobs.is_array()) {
        if (all_.logprobs.empty()) all_.logprobs = json::array();
        for (auto& e : d.logprobs) all_.logprobs.push_back(std::move(e));
    } else if (d.logprobs.is_object()) {
        if (all_.logprobs.empty()) {
            all_.logprobs = std::move(d.logprobs);
        } else {
            for (const char* k : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
                for (auto& e : d.logprobs[k]) all_.logprobs[k].push_back(std::move(e));
        }
    }
}

json ResponseBuilder::usage(const RequestSummary& s) const {
    json u{{"prompt_tokens", s.n_prompt},
           {"completion_tokens", s.n_generated},
           {"total_tokens", s.n_prompt + s.n_generated},
           {"prompt_tokens_details", {{"cached_tokens", s.n_cached}}}};
    if (req_.kind == ApiKind::kChat) u["completion_tokens_details"] = {{"reasoning_tokens", n_reasoning_tokens_}};
    return u;
}

json ResponseBuilder::response(const RequestSummary& s) {
    if (split_) {
        const ReasoningDelta o = splitter_.finish();
        all_.reasoning += o.reasoning;
        all_.content += o.content;
    }
    const char* finish = finish_reason_api_name(s.finish);
    json r;
    if (req_.kind == ApiKind::kChat) {
        r = envelope("chat.completion");
        json msg{{"role", "assistant"}, {"content", all_.content}};
        if (split_) msg["reasoning_content"] = all_.reasoning;
        r["choices"] = json::array({json{{"index", 0},
                                         {"message", msg},
                                         {"logprobs", req_.logprobs ? json{{"content", all_.logprobs.empty()
                                                                                         ? json::array()
                                                                                         : all_.logprobs}}
                                                                    : json(nullptr)},
                                         {"finish_reason", finish}}});
    } else {
        r = envelope("text_completion");
        r["choices"] = json::array({json{{"index", 0},
                                         {"text", all_.content},
                                         {"logprobs", req_.logprobs ? all_.logprobs : json(nullptr)},
                                         {"finish_reason", finish}}});
    }
    r["usage"] = usage(s);
    return r;
}

}  // namespace retort
