// parse_api_request: every rejection with a handcrafted body, and the fields that pass.
#include "server/api_parse.h"

#include <gtest/gtest.h>

namespace retort {
namespace {

const ApiError* error_of(const ParsedRequest& p) { return std::get_if<ApiError>(&p); }

void expect_rejected(const std::string& body, const std::string& param, ApiKind kind = ApiKind::kChat) {
    ParsedRequest p = parse_api_request(body, kind);
    const ApiError* e = error_of(p);
    ASSERT_NE(e, nullptr) << body;
    EXPECT_EQ(e->status, 400) << body;
    EXPECT_EQ(e->type, "invalid_request_error");
    EXPECT_EQ(e->param, param) << body << " -> " << e->message;
    EXPECT_FALSE(e->message.empty());
}

const std::string kMsgs = R"("messages":[{"role":"user","content":"hi"}])";

TEST(ApiParse, ChatDefaultsAndFields) {
    ParsedRequest p = parse_api_request(
        R"({"model":"m",)" + kMsgs +
            R"(,"stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"top_p":0.9,)"
            R"("max_tokens":12,"stop":["a","bc"],"seed":-3,"presence_penalty":0.5,"frequency_penalty":-1,)"
            R"("logprobs":true,"top_logprobs":3,"n":1,"reasoning_format":"none","user":"x","tools":null})",
        ApiKind::kChat);
    ASSERT_EQ(error_of(p), nullptr) << error_of(p)->message;
    const ApiRequest& r = std::get<ApiRequest>(p);
    EXPECT_EQ(r.model, "m");
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.messages[0].role, "user");
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
    EXPECT_FLOAT_EQ(r.temperature, 0.5f);
    EXPECT_FLOAT_EQ(r.top_p, 0.9f);
    EXPECT_EQ(r.max_tokens, 12);
    EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "bc"}));
    ASSERT_TRUE(r.seed.has_value());
    EXPECT_EQ(*r.seed, (uint64_t)-3);
    EXPECT_TRUE(r.logprobs);
    EXPECT_EQ(r.top_logprobs, 3);
    EXPECT_EQ(r.reasoning, ReasoningFormat::kNone);

    ParsedRequest d = parse_api_request("{" + kMsgs + "}", ApiKind::kChat);
    const ApiRequest& def = std::get<ApiRequest>(d);
    EXPECT_FLOAT_EQ(def.temperature, 1.0f);
    EXPECT_EQ(def.max_tokens, -1);
    EXPECT_FALSE(def.seed.has_value());
    EXPECT_EQ(def.reasoning, ReasoningFormat::kDeepSeek);
}

TEST(ApiParse, NullMeansAbsent) {
    ParsedRequest p = parse_api_request(
        "{" + kMsgs + R"(,"temperature":null,"max_tokens":null,"stop":null,"seed":null,"n":null})", ApiKind::kChat);
    ASSERT_EQ(error_of(p), nullptr);
    EXPECT_FLOAT_EQ(std::get<ApiRequest>(p).temperature, 1.0f);
}

TEST(ApiParse, MaxCompletionTokensAndTextParts) {
    ParsedRequest p = parse_api_request(
        R"({"messages":[{"role":"system","content":[{"type":"text","text":"be brief"}]},{"role":"user","content":"q"}],)"
        R"("max_completion_tokens":7})",
        ApiKind::kChat);
    ASSERT_EQ(error_of(p), nullptr) << error_of(p)->message;
    EXPECT_EQ(std::get<ApiRequest>(p).max_tokens, 7);
    EXPECT_EQ(std::get<ApiRequest>(p).messages[0].content.value_or(""), "be brief");
}

TEST(ApiParse, Rejections) {
    expect_rejected("not json", "");
    expect_rejected("[1,2]", "");
    expect_rejected("{}", "messages");
    expect_rejected(R"({"messages":[]})", "messages");
    expect_rejected(R"({"messages":"hi"})", "messages");
    expect_rejected(R"({"messages":[{"content":"no role"}]})", "messages");
    expect_rejected("{" + kMsgs + R"(,"temperature":5})", "temperature");
    expect_rejected("{" + kMsgs + R"(,"temperature":"hot"})", "temperature");
    expect_rejected("{" + kMsgs + R"(,"top_p":0})", "top_p");
    expect_rejected("{" + kMsgs + R"(,"max_tokens":0})", "max_tokens");
    expect_rejected("{" + kMsgs + R"(,"max_tokens":1.5})", "max_tokens");
    expect_rejected("{" + kMsgs + R"(,"n":2})", "n");
    expect_rejected("{" + kMsgs + R"(,"stop":[1]})", "stop");
    expect_rejected("{" + kMsgs + R"(,"stop":""})", "stop");
    expect_rejected("{" + kMsgs + R"(,"top_logprobs":2})", "top_logprobs");
    expect_rejected("{" + kMsgs + R"(,"logprobs":true,"top_logprobs":21})", "top_logprobs");
    expect_rejected("{" + kMsgs + R"(,"presence_penalty":3})", "presence_penalty");
    expect_rejected("{" + kMsgs + R"(,"seed":"x"})", "seed");
    expect_rejected("{" + kMsgs + R"(,"stream":"yes"})", "stream");
    expect_rejected("{" + kMsgs + R"(,"model":5})", "model");
    expect_rejected("{" + kMsgs + R"(,"reasoning_format":"xml"})", "reasoning_format");
}

TEST(ApiParse, Completions) {
    ParsedRequest p = parse_api_request(R"({"prompt":"Once upon","logprobs":2,"max_tokens":3})", ApiKind::kCompletion);
    ASSERT_EQ(error_of(p), nullptr);
    EXPECT_EQ(std::get<ApiRequest>(p).prompt, "Once upon");
    EXPECT_TRUE(std::get<ApiRequest>(p).logprobs);
    EXPECT_EQ(std::get<ApiRequest>(p).top_logprobs, 2);
    p = parse_api_request(R"({"prompt":["one"]})", ApiKind::kCompletion);
    EXPECT_EQ(std::get<ApiRequest>(p).prompt, "one");
    p = parse_api_request(R"({"prompt":[1,5,9]})", ApiKind::kCompletion);
    EXPECT_EQ(std::get<ApiRequest>(p).prompt_tokens, (std::vector<int32_t>{1, 5, 9}));
    EXPECT_TRUE(std::get<ApiRequest>(p).prompt_is_tokens);
    expect_rejected(R"({})", "prompt", ApiKind::kCompletion);
    expect_rejected(R"({"prompt":["a","b"]})", "prompt", ApiKind::kCompletion);
    expect_rejected(R"({"prompt":[1,-2]})", "prompt", ApiKind::kCompletion);
    expect_rejected(R"({"prompt":"x","logprobs":9})", "logprobs", ApiKind::kCompletion);
    expect_rejected(R"({"prompt":"x","echo":true})", "echo", ApiKind::kCompletion);
}

}  // namespace
}  // namespace retort
