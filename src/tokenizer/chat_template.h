// Chat formats: a conversation rendered, natively (no Jinja), to the prompt text a model was
// trained on — DeepSeek-R1 (both distill families), ChatML (Qwen2.5-Instruct) and Llama-3
// Instruct. The format comes from tokenizer.chat_template or an override. Splitting the
// model's reply into reasoning and answer is reasoning.h's job.
#pragma once

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace retort {

enum class ChatFormat {
    kR1,      // <｜User｜>…<｜Assistant｜>…<｜end▁of▁sentence｜>; generation opens "<think>\n"
    kChatML,  // <|im_start|>role\n…<|im_end|>\n
    kLlama3,  // <|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>
};
const char* chat_format_name(ChatFormat f);  // "r1", "chatml", "llama3"
// "r1" | "chatml" | "llama3" (the override a user gives); an Error naming the choices otherwise.
Result<ChatFormat> parse_chat_format(std::string_view name);

struct ChatToolCall {
    std::string type = "function";
    std::string name;
    std::string arguments;  // JSON text, as the client sent it
};

struct ChatMessage {
    std::string role;                    // "system", "user", "assistant", "tool"
    std::optional<std::string> content;  // nullopt: JSON null (an assistant turn of tool calls)
    std::vector<ChatToolCall> tool_calls;
};

// OpenAI-style messages from JSON text: [{"role", "content": string | null | [{"type": "text",
// "text"}...], "tool_calls": [{"type", "function": {"name", "arguments"}}]}]. Bad JSON or a
// wrong shape is an Error naming the message index.
Result<std::vector<ChatMessage>> parse_chat_messages(std::string_view json_text);

// The format a tokenizer.chat_template text is written for; an Error for a template we do not
// recognise (the caller may then pass an override).
Result<ChatFormat> detect_chat_format(std::string_view template_text);

class ChatTemplate {
public:
    // For a model file: the format of its tokenizer.chat_template — or, without one, the one its
    // vocab's special tokens imply — unless `override_format` is given. BOS text from the vocab.
    static Result<ChatTemplate> from_gguf(const GgufFile& f, const Tokenizer& tok,
                                          std::optional<ChatFormat> override_format = std::nullopt);
    // From a template text: its format (or `override_format`) and the options the text shows
    // (Qwen2.5's default system message, Llama 3.1's dated system turn).
    static Result<ChatTemplate> from_template(std::string_view template_text, std::string bos_text,
                                              std::optional<ChatFormat> override_format = std::nullopt);
    // A format with default options; `bos_text` is the vocab's BOS token text.
    ChatTemplate(ChatFormat format, std::string bos_text) : format_(format), bos_text_(std::move(bos_text)) {}

    ChatFormat format() const { return format_; }

    // The prompt text. Tokenize it with add_bos=false, parse_special=true: the text already
    // begins with the BOS text where the format has one.
    // add_generation_prompt ends it with the assistant's opener (R1: "<｜Assistant｜><think>\n").
    Result<std::string> render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

    // True when a prompt rendered with add_generation_prompt leaves the model inside <think>.
    bool generation_starts_in_reasoning() const { return format_ == ChatFormat::kR1; }

private:
    Result<std::string> render_r1(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
    Result<std::string> render_chatml(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
    Result<std::string> render_llama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

    ChatFormat format_;
    std::string bos_text_;
    bool qwen_default_system_ = false;  // Qwen2.5: "You are Qwen, ..." when no system message
    bool llama31_system_ = false;       // Llama 3.1+: always a system turn with the knowledge date
};

}  // namespace retort
