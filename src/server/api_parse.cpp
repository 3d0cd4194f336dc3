#include "server/api_parse.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace retort {

namespace {

using json = nlohmann::json;

// Field readers: absent or null leaves `out` alone; a wrong type or range is an ApiError.
struct Fields {
    const json& obj;
    std::optional<ApiError> error;

    const json* get(const char* name) {
        auto it = obj.find(name);
        if (it == obj.end() || it->is_null()) return nullptr;
        return &*it;
    }
    void fail(std::string message, const char* param) {
        if (!error) error = ApiError::bad_request(std::move(message), param);
    }
    void boolean(const char* name, bool& out) {
        if (const json* v = get(name)) {
            if (!v->is_boolean()) return fail(fmt::format("'{}' must be a boolean", name), name);
            out = v->get<bool>();
        }
    }
    void number(const char* name, float& out, double lo, double hi) {
        if (const json* v = get(name)) {
            if (!v->is_number()) return fail(fmt::format("'{}' must be a number", name), name);
            const double d = v->get<double>();
            if (!std::isfinite(d) || d < lo || d > hi)
                return fail(fmt::format("'{}' is {}; it must be between {} and {}", name, d, lo, hi), name);
            out = (float)d;
        }
    }
    template <typename Int>
    void integer(const char* name, Int& out, int64_t lo, int64_t hi) {
        if (const json* v = get(name)) {
            if (!v->is_number_integer()) return fail(fmt::format("'{}' must be an integer", name), name);
            const int64_t i = v->is_number_unsigned() && v->get<uint64_t>() > (uint64_t)INT64_MAX
                                  ? INT64_MAX
                                  : v->get<int64_t>();
            if (i < lo || i > hi)
                return fail(fmt::format("'{}' is {}; it must be between {} and {}", name, i, lo, hi), name);
            out = (Int)i;
        }
    }
    void string(const char* name, std::string& out) {
        if (const json* v = get(name)) {
            if (!v->is_string()) return fail(fmt::format("'{}' must be a string", name), name);
            out = v->get<std::string>();
        }
    }
};

constexpr size_t kMaxStops = 16;
constexpr size_t kMaxStopBytes = 256;

void parse_stop(Fields& f, std::vector<std::string>& out) {
    const json* v = f.get("stop");
    if (!v) return;
    if (v->is_string()) {
        out = {v->get<std::string>()};
    } else if (v->is_array()) {
        if (v->size() > kMaxStops) return f.fail(fmt::format("'stop' has {} strings; at most {}", v->size(), kMaxStops), "stop");
        for (const json& s : *v) {
            if (!s.is_string()) return f.fail("'stop' must be a string or an array of strings", "stop");
            out.push_back(s.get<std::string>());
        }
    } else {
        return f.fail("'stop' must be a string or an array of strings", "stop");
    }
    for (const std::string& s : out) {
        if (s.empty()) return f.fail("'stop' strings must not be empty", "stop");
        if (s.size() > kMaxStopBytes) return f.fail(fmt::format("a 'stop' string is over {} bytes", kMaxStopBytes), "stop");
    }
}

// prompt: "text" | ["text"] | [ids] | [[ids]]; one prompt only (n prompts would be n choices).
void parse_prompt(Fields& f, ApiRequest& r) {
    const json* v = f.get("prompt");
    if (!v) return f.fail("'prompt' is required", "prompt");
    const json* p = v;
    if (v->is_array() && v->size() == 1 && ((*v)[0].is_string() || (*v)[0].is_array())) p = &(*v)[0];
    if (p->is_string()) {
        r.prompt = p->get<std::string>();
        return;
    }
    if (p->is_array() && !p->empty()) {
        for (const json& t : *p) {
            if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
                return f.fail("'prompt' token arrays must hold non-negative integer ids", "prompt");
            r.prompt_tokens.push_back((int32_t)t.get<int64_t>());
        }
        r.prompt_is_tokens = true;
        return;
    }
    if (v->is_array() && v->size() > 1)
        return f.fail("'prompt' holds several prompts; send one prompt per request", "prompt");
    f.fail("'prompt' must be a string, an array with one string, or an array of token ids", "prompt");
}

}  // namespace

ParsedRequest parse_api_request(std::string_view body, ApiKind kind) {
    json j;
    try {
        j = json::parse(body.begin(), body.end());
    } catch (const json::parse_error& e) {
        return ApiError::bad_request(fmt::format("the body is not valid JSON: {}", e.what()));
    }
    if (!j.is_object()) return ApiError::bad_request("the body must be a JSON object");

    ApiRequest r;
    r.kind = kind;
    Fields f{j, std::nullopt};
    f.string("model", r.model);
    f.boolean("stream", r.stream);
    if (const json* so = f.get("stream_options")) {
        if (!so->is_object()) {
            f.fail("'stream_options' must be an object", "stream_options");
        } else if (auto it = so->find("include_usage"); it != so->end() && !it->is_null()) {
            if (!it->is_boolean()) f.fail("'stream_options.include_usage' must be a boolean", "stream_options");
            else r.include_usage = it->get<bool>();
        }
    }
    f.number("temperature", r.temperature, 0.0, 2.0);
    f.number("top_p", r.top_p, 0.0, 1.0);
    if (f.get("top_p") && r.top_p <= 0.0f) f.fail("'top_p' must be greater than 0", "top_p");
    f.integer("top_k", r.top_k, 0, 1 << 20);
    f.number("min_p", r.min_p, 0.0, 1.0);
    f.number("repeat_penalty", r.repeat_penalty, 0.0, 10.0);
    if (f.get("repeat_penalty") && r.repeat_penalty <= 0.0f) f.fail("'repeat_penalty' must be positive", "repeat_penalty");
    f.number("presence_penalty", r.presence_penalty, -2.0, 2.0);
    f.number("frequency_penalty", r.frequency_penalty, -2.0, 2.0);
    if (const json* s = f.get("seed")) {
        if (!s->is_number_integer()) f.fail("'seed' must be an integer", "seed");
        else r.seed = s->is_number_unsigned() ? s->get<uint64_t>() : (uint64_t)s->get<int64_t>();
    }
    // max_completion_tokens is the newer name; either may be sent.
    f.integer("max_tokens", r.max_tokens, 1, INT32_MAX);
    f.integer("max_completion_tokens", r.max_tokens, 1, INT32_MAX);
    parse_stop(f, r.stop);
    f.boolean("ignore_eos", r.ignore_eos);
    int64_t n = 1;
    f.integer("n", n, 1, 128);
    if (n != 1 && !f.error)
        f.fail(fmt::format("'n' is {}; this server returns one choice per request (n = 1)", n), "n");
    if (const json* b = f.get("best_of"); b && !(b->is_number_integer() && b->get<int64_t>() == 1))
        f.fail("'best_of' other than 1 is not supported", "best_of");
    if (const json* rf = f.get("reasoning_format")) {
        const std::string v = rf->is_string() ? rf->get<std::string>() : "";
        if (v == "deepseek" || v == "auto") r.reasoning = ReasoningFormat::kDeepSeek;
        else if (v == "none" || v == "raw") r.reasoning = ReasoningFormat::kNone;
        else f.fail("'reasoning_format' must be \"deepseek\" (split into reasoning_content) or \"none\" (raw text)",
                    "reasoning_format");
    }

    if (kind == ApiKind::kChat) {
        f.boolean("logprobs", r.logprobs);
        f.integer("top_logprobs", r.top_logprobs, 0, 20);
        if (f.get("top_logprobs") && !r.logprobs && !f.error)
            f.fail("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
        const json* m = f.get("messages");
        if (!m) {
            f.fail("'messages' is required", "messages");
        } else if (!m->is_array() || m->empty()) {
            f.fail("'messages' must be a non-empty array", "messages");
        } else if (!f.error) {
            auto msgs = parse_chat_messages(m->dump());
            if (!msgs.ok()) f.fail(msgs.error().message, "messages");
            else r.messages = std::move(msgs.value());
        }
    } else {
        // Legacy completions: logprobs is an integer 0..5 (the top alternatives per token).
        if (const json* lp = f.get("logprobs")) {
            if (!lp->is_number_integer() || lp->get<int64_t>() < 0 || lp->get<int64_t>() > 5) {
                f.fail("'logprobs' must be an integer between 0 and 5", "logprobs");
            } else {
                r.logprobs = true;
                r.top_logprobs = (int)lp->get<int64_t>();
            }
        }
        if (const json* e = f.get("echo"); e && !(e->is_boolean() && !e->get<bool>()))
            f.fail("'echo' is not supported", "echo");
        if (const json* s = f.get("suffix"); s && !(s->is_string() && s->get<std::string>().empty()))
            f.fail("'suffix' is not supported", "suffix");
        if (!f.error) parse_prompt(f, r);
    }
    if (f.error) return *f.error;
    return r;
}

}  // namespace retort
