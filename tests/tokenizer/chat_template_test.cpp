// Chat formats: every R1 rendering in tests/data/vocab/chat_renders.json byte for byte (Jinja2's
// output of DeepSeek's template), format detection, and ChatML / Llama-3 renderings written
// out from their reference templates.
#include "tokenizer/chat_template.h"

#include "tokenizer_test_util.h"

#include <nlohmann/json.hpp>

namespace retort::test {
namespace {

using nlohmann::json;

std::string render(const ChatTemplate& t, const std::string& messages_json, bool gen) {
    auto msgs = parse_chat_messages(messages_json);
    EXPECT_TRUE(msgs.ok()) << (msgs.ok() ? "" : msgs.error().message);
    if (!msgs.ok()) return {};
    auto r = t.render(msgs.value(), gen);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : std::string();
}

TEST(ChatTemplate, R1RendersMatchJinja) {
    const json renders = json::parse(read_file(data_path("vocab/chat_renders.json")));
    int checked = 0;
    for (const char* vocab : {"vocab/ggml-vocab-r1-distill-qwen.gguf", "vocab/ggml-vocab-r1-distill-llama.gguf"}) {
        auto v = load_vocab(vocab);
        ASSERT_TRUE(v.tok);
        auto t = ChatTemplate::from_gguf(*v.file, *v.tok);
        ASSERT_TRUE(t.ok()) << t.error().message;
        EXPECT_EQ(t.value().format(), ChatFormat::kR1);
        EXPECT_TRUE(t.value().generation_starts_in_reasoning());
        for (const json& r : renders) {
            const std::string got = render(t.value(), r["messages"].dump(), r["add_generation_prompt"]);
            EXPECT_EQ(got, r["rendered"].get<std::string>()) << vocab << " " << r["name"];
            // The rendered prompt tokenizes with its BOS text as the BOS token.
            const auto ids = v.tok->encode(got, /*add_bos=*/false, /*parse_special=*/true);
            ASSERT_FALSE(ids.empty());
            EXPECT_EQ(ids[0], v.tok->bos());
            ++checked;
        }
    }
    EXPECT_EQ(checked, 12);
    std::printf("chat_renders.json: %d renderings checked (6 per vocab)\n", checked);
}

TEST(ChatTemplate, R1Details) {
    const ChatTemplate t(ChatFormat::kR1, "<BOS>");
    // Only the last system message is used, placed right after BOS.
    EXPECT_EQ(render(t, R"([{"role":"system","content":"A"},{"role":"user","content":"q"},{"role":"system","content":"B"}])", false),
              "<BOS>B<｜User｜>q");
    // Reasoning is cut at the last </think>; no </think> keeps the whole content.
    EXPECT_EQ(render(t, R"([{"role":"assistant","content":"<think>a</think>b</think>c"},{"role":"assistant","content":"plain"}])", false),
              "<BOS><｜Assistant｜>c<｜end▁of▁sentence｜><｜Assistant｜>plain<｜end▁of▁sentence｜>");
    // Two tool calls in one turn: the second closes the block.
    EXPECT_EQ(render(t, R"([{"role":"assistant","content":null,"tool_calls":[
                  {"type":"function","function":{"name":"f","arguments":"{}"}},
                  {"type":"function","function":{"name":"g","arguments":"[1]"}}]},
                  {"role":"tool","content":"r1"},{"role":"tool","content":"r2"}])", true),
              "<BOS><｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```"
              "<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n[1]\n```<｜tool▁call▁end｜>"
              "<｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>"
              "\n<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
    // Content given as text parts is joined with newlines.
    EXPECT_EQ(render(t, R"([{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}])", true),
              "<BOS><｜User｜>a\nb<｜Assistant｜><think>\n");
    EXPECT_EQ(render(t, "[]", true), "<BOS><｜Assistant｜><think>\n");
    // A user message without content is an error, not "None".
    auto msgs = parse_chat_messages(R"([{"role":"user","content":null}])");
    ASSERT_TRUE(msgs.ok());
    EXPECT_FALSE(t.render(msgs.value(), true).ok());
}

TEST(ChatTemplate, ParseMessagesRejectsBadInput) {
    for (const char* bad : {"", "{", "{}", "[1]", R"([{"content":"x"}])", R"([{"role":1}])",
                            R"([{"role":"user","content":5}])", R"([{"role":"user","content":[{"type":"image_url"}]}])",
                            R"([{"role":"assistant","tool_calls":[{"function":{}}]}])"}) {
        auto r = parse_chat_messages(bad);
        EXPECT_FALSE(r.ok()) << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.error().kind, ErrorKind::kBadArgument);
        }
    }
    auto ok = parse_chat_messages(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]}])");
    ASSERT_TRUE(ok.ok());
    EXPECT_FALSE(ok.value()[0].content.has_value());
    EXPECT_EQ(ok.value()[0].tool_calls[0].arguments, R"({"x":1})");
}

TEST(ChatTemplate, DetectFormat) {
    const std::string r1 = read_file(data_path("vocab/chat_template-r1-distill-qwen.jinja"));
    EXPECT_EQ(detect_chat_format(r1).value(), ChatFormat::kR1);
    EXPECT_EQ(detect_chat_format("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                                 "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}")
                  .value(),
              ChatFormat::kChatML);
    EXPECT_EQ(detect_chat_format("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
                                 "message['content'] | trim + '<|eot_id|>' }}")
                  .value(),
              ChatFormat::kLlama3);
    auto unknown = detect_chat_format("{{ messages[0]['content'] }}");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().kind, ErrorKind::kUnsupported);
    EXPECT_NE(unknown.error().message.find("override"), std::string::npos);

    EXPECT_EQ(parse_chat_format("chatml").value(), ChatFormat::kChatML);
    EXPECT_EQ(parse_chat_format("llama3").value(), ChatFormat::kLlama3);
    EXPECT_EQ(parse_chat_format("r1").value(), ChatFormat::kR1);
    EXPECT_FALSE(parse_chat_format("jinja").ok());

    // An override wins over the template text.
    auto t = ChatTemplate::from_template(r1, "<s>", ChatFormat::kChatML);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value().format(), ChatFormat::kChatML);
    EXPECT_FALSE(ChatTemplate::from_template("{{ x }}", "<s>").ok());
}

// Qwen2.5-Instruct's template (the parts without a tools list).
TEST(ChatTemplate, ChatMLQwen25) {
    auto t = ChatTemplate::from_template(
        "{%- if messages[0]['role'] == 'system' %}...{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
        "You are a helpful assistant.<|im_end|>\\n' }}...",
        "");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(render(t.value(), R"([{"role":"user","content":"Hi"}])", true),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(render(t.value(), R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
                                    {"role":"assistant","content":"Hello."}])", false),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\nHello.<|im_end|>\n");
    EXPECT_EQ(render(t.value(), R"([{"role":"system","content":"S"},{"role":"user","content":"Weather?"},
        {"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":[1,2]}"}}]},
        {"role":"tool","content":"sunny"},{"role":"tool","content":"warm"}])", true),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n"
              "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": [1, 2]}}\n"
              "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<tool_response>\n"
              "warm\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
    // Plain ChatML (no Qwen default system).
    const ChatTemplate plain(ChatFormat::kChatML, "");
    EXPECT_EQ(render(plain, R"([{"role":"user","content":"Hi"}])", true),
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3) {
    const ChatTemplate t30(ChatFormat::kLlama3, "<|begin_of_text|>");
    EXPECT_EQ(render(t30, R"([{"role":"system","content":"Sys"},{"role":"user","content":"  Hi \n"}])", true),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    auto t31 = ChatTemplate::from_template(
        "{{- \"Cutting Knowledge Date: December 2023\\n\" }} <|start_header_id|> <|eot_id|>", "<|begin_of_text|>");
    ASSERT_TRUE(t31.ok());
    EXPECT_EQ(t31.value().format(), ChatFormat::kLlama3);
    EXPECT_EQ(render(t31.value(), R"([{"role":"user","content":"Hi"}])", true),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(render(t31.value(), R"([{"role":"system","content":" S "},{"role":"assistant","content":null,
        "tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","content":"ok"}])", false),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\nS<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
              "{\"name\": \"f\", \"parameters\": {\"a\": 1}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n"
              "\"ok\"<|eot_id|>");
}

}  // namespace
}  // namespace retort::test
