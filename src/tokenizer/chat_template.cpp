// Chat formats rendered natively. Each render_* reproduces its reference Jinja template byte
// for byte, quirks included (noted where they matter); tests/data/vocab/chat_renders.json pins
// the R1 one.
#include "tokenizer/chat_template.h"

#include "tokenizer/utf8.h"

#include <nlohmann/json.hpp>

namespace retort {

namespace {

using nlohmann::json;

// Python's json.dumps(x, ensure_ascii=False) with its default ", " / ": " separators: what the
// HF templates' `tojson` prints.
void py_json_dump(const json& j, std::string& out) {
    switch (j.type()) {
        case json::value_t::object: {
            out += '{';
            bool first = true;
            for (auto it = j.begin(); it != j.end(); ++it) {
                if (!first) out += ", ";
                first = false;
                py_json_dump(json(it.key()), out);
                out += ": ";
                py_json_dump(it.value(), out);
            }
            out += '}';
            break;
        }
        case json::value_t::array: {
            out += '[';
            for (size_t i = 0; i < j.size(); ++i) {
                if (i) out += ", ";
                py_json_dump(j[i], out);
            }
            out += ']';
            break;
        }
        case json::value_t::string: {
            out += '"';
            for (char c : j.get_ref<const std::string&>()) {
                switch (c) {
                    case '"': out += "\\\""; break;
                    case '\\': out += "\\\\"; break;
                    case '\n': out += "\\n"; break;
                    case '\r': out += "\\r"; break;
                    case '\t': out += "\\t"; break;
                    case '\b': out += "\\b"; break;
                    case '\f': out += "\\f"; break;
                    default:
                        if ((uint8_t)c < 0x20)
                            out += fmt::format("\\u{:04x}", (int)c);
                        else
                            out += c;
                }
            }
            out += '"';
            break;
        }
        case json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; break;
        case json::value_t::null: out += "null"; break;
        default: out += j.dump(); break;  // numbers
    }
}

// `x | tojson` for tool-call arguments: the arguments object when the text is JSON (as HF
// passes it), else the text as a JSON string.
std::string tojson_arguments(const std::string& arguments) {
    std::string out;
    json parsed = json::parse(arguments, nullptr, /*allow_exceptions=*/false);
    py_json_dump(parsed.is_discarded() ? json(arguments) : parsed, out);
    return out;
}

std::string tojson_string(const std::string& s) {
    std::string out;
    py_json_dump(json(s), out);
    return out;
}

// Jinja's `trim` is Python's str.strip(): Unicode whitespace at both ends.
bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string py_strip(std::string_view s) {
    size_t begin = 0, end = s.size();
    while (begin < end) {
        size_t pos = begin;
        if (!py_isspace(utf8::decode_lenient(s, pos))) break;
        begin = pos;
    }
    while (end > begin) {
        size_t start = end - 1;
        while (start > begin && utf8::is_cont((uint8_t)s[start])) --start;
        size_t pos = start;
        if (!py_isspace(utf8::decode_lenient(s, pos)) || pos != end) break;
        end = start;
    }
    return std::string(s.substr(begin, end - begin));
}

Error null_content(size_t i, const ChatMessage& m) {
    return Error::bad_argument("message {} (role '{}'): content is null; only an assistant turn with "
                               "tool_calls may omit it",
                               i, m.role);
}

}  // namespace

const char* chat_format_name(ChatFormat f) {
    switch (f) {
        case ChatFormat::kR1: return "r1";
        case ChatFormat::kChatML: return "chatml";
        case ChatFormat::kLlama3: return "llama3";
    }
    return "?";
}

Result<ChatFormat> parse_chat_format(std::string_view name) {
    if (name == "r1") return ChatFormat::kR1;
    if (name == "chatml") return ChatFormat::kChatML;
    if (name == "llama3") return ChatFormat::kLlama3;
    return Error::bad_argument("unknown chat format '{}' (choose r1, chatml or llama3)", name);
}

Result<std::vector<ChatMessage>> parse_chat_messages(std::string_view json_text) {
    json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Error::bad_argument("messages: not valid JSON");
    if (!doc.is_array()) return Error::bad_argument("messages: expected a JSON array, got {}", doc.type_name());
    std::vector<ChatMessage> out;
    out.reserve(doc.size());
    for (size_t i = 0; i < doc.size(); ++i) {
        const json& m = doc[i];
        if (!m.is_object()) return Error::bad_argument("message {}: expected an object, got {}", i, m.type_name());
        ChatMessage msg;
        const auto role = m.find("role");
        if (role == m.end() || !role->is_string())
            return Error::bad_argument("message {}: \"role\" must be a string", i);
        msg.role = role->get<std::string>();
        const auto content = m.find("content");
        if (content == m.end() || content->is_null()) {
            msg.content.reset();
        } else if (content->is_string()) {
            msg.content = content->get<std::string>();
        } else if (content->is_array()) {
            // Text parts joined by newlines, as llama.cpp's server does.
            std::string text;
            bool first = true;
            for (const json& part : *content) {
                if (!part.is_object() || !part.contains("type") || part["type"] != "text") {
                    return Error::bad_argument("message {}: only content parts of type \"text\" are supported", i);
                }
                if (!part.contains("text") || !part["text"].is_string())
                    return Error::bad_argument("message {}: a text part needs a string \"text\"", i);
                if (!first) text += '\n';
                first = false;
                text += part["text"].get<std::string>();
            }
            msg.content = std::move(text);
        } else {
            return Error::bad_argument("message {}: \"content\" must be a string, an array of parts or null, got {}",
                                       i, content->type_name());
        }
        if (const auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
            if (!calls->is_array()) return Error::bad_argument("message {}: \"tool_calls\" must be an array", i);
            for (size_t k = 0; k < calls->size(); ++k) {
                const json& c = (*calls)[k];
                const auto fn = c.is_object() ? c.find("function") : c.end();
                if (!c.is_object() || fn == c.end() || !fn->is_object() || !fn->contains("name") ||
                    !(*fn)["name"].is_string())
                    return Error::bad_argument("message {}: tool_calls[{}] needs \"function\": {{\"name\", \"arguments\"}}", i, k);
                ChatToolCall call;
                if (c.contains("type") && c["type"].is_string()) call.type = c["type"].get<std::string>();
                call.name = (*fn)["name"].get<std::string>();
                if (fn->contains("arguments")) {
                    const json& a = (*fn)["arguments"];
                    call.arguments = a.is_string() ? a.get<std::string>() : a.dump();
                }
                msg.tool_calls.push_back(std::move(call));
            }
        }
        out.push_back(std::move(msg));
    }
    return out;
}

Result<ChatFormat> detect_chat_format(std::string_view t) {
    const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
    if (has("<｜User｜>") && has("<｜Assistant｜>")) return ChatFormat::kR1;
    if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatFormat::kLlama3;
    if (has("<|im_start|>")) return ChatFormat::kChatML;
    std::string head(t.substr(0, 80));
    return Error::make(ErrorKind::kUnsupported,
                       "unrecognised chat template (starts \"{}\"); known formats are DeepSeek-R1, ChatML and "
                       "Llama-3 --- HINT: pass a chat format override (r1, chatml, llama3)",
                       head);
}

Result<ChatTemplate> ChatTemplate::from_template(std::string_view text, std::string bos_text,
                                                 std::optional<ChatFormat> override_format) {
    ChatFormat format;
    if (override_format) {
        format = *override_format;
    } else {
        auto d = detect_chat_format(text);
        if (!d.ok()) return d.error();
        format = d.value();
    }
    ChatTemplate t(format, std::move(bos_text));
    t.qwen_default_system_ = text.find("You are Qwen, created by Alibaba Cloud.") != std::string_view::npos;
    t.llama31_system_ = text.find("Cutting Knowledge Date") != std::string_view::npos;
    return t;
}

Result<ChatTemplate> ChatTemplate::from_gguf(const GgufFile& f, const Tokenizer& tok,
                                             std::optional<ChatFormat> override_format) {
    auto tmpl = f.get_string("tokenizer.chat_template");
    if (!tmpl.ok()) return tmpl.error();
    const std::string_view text = tmpl.value().value_or(std::string_view());
    std::string bos_text = tok.bos() >= 0 ? tok.raw_piece(tok.bos()) : std::string();
    if (!text.empty() || override_format) {
        auto t = from_template(text, std::move(bos_text), override_format);
        if (!t.ok()) return Error{t.error().kind, f.path() + ": " + t.error().message};
        return t;
    }
    // No template: the vocab's own turn markers say which format the model speaks.
    if (tok.find_token("<｜User｜>") >= 0 && tok.find_token("<｜Assistant｜>") >= 0)
        return ChatTemplate(ChatFormat::kR1, std::move(bos_text));
    if (tok.find_token("<|start_header_id|>") >= 0 && tok.find_token("<|eot_id|>") >= 0)
        return ChatTemplate(ChatFormat::kLlama3, std::move(bos_text));
    if (tok.find_token("<|im_start|>") >= 0) return ChatTemplate(ChatFormat::kChatML, std::move(bos_text));
    auto arch = f.get_string("general.architecture");
    const std::string_view arch_name = arch.ok() ? arch.value().value_or("?") : "?";
    return Error::make(ErrorKind::kUnsupported,
                       "{}: no tokenizer.chat_template and no known turn tokens in the vocab (arch {}) "
                       "--- HINT: pass a chat format override (r1, chatml, llama3)",
                       f.path(), arch_name);
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    switch (format_) {
        case ChatFormat::kR1: return render_r1(messages, add_generation_prompt);
        case ChatFormat::kChatML: return render_chatml(messages, add_generation_prompt);
        case ChatFormat::kLlama3: return render_llama3(messages, add_generation_prompt);
    }
    return Error::bad_argument("unknown chat format");
}

// DeepSeek's template (chat_template-r1-distill-*.jinja), step for step. Its quirks are kept:
// only the last system message is used; the first tool call of the whole conversation opens
// the calls block and only later ones close it; tool outputs open once per conversation.
Result<std::string> ChatTemplate::render_r1(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    std::string system;
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role != "system") continue;
        if (!messages[i].content) return null_content(i, messages[i]);
        system = *messages[i].content;
    }
    std::string out = bos_text_ + system;
    bool is_first = false, is_tool = false, is_output_first = true;
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "user") {
            if (!m.content) return null_content(i, m);
            is_tool = false;
            out += "<｜User｜>" + *m.content;
        } else if (m.role == "assistant" && !m.content) {
            is_tool = false;
            for (const ChatToolCall& call : m.tool_calls) {
                const std::string body = call.type + "<｜tool▁sep｜>" + call.name + "\n```json\n" + call.arguments +
                                         "\n```<｜tool▁call▁end｜>";
                if (!is_first) {
                    out += "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + body;
                    is_first = true;
                } else {
                    out += "\n<｜tool▁call▁begin｜>" + body + "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
                }
            }
        } else if (m.role == "assistant") {
            if (is_tool) {
                out += "<｜tool▁outputs▁end｜>" + *m.content + "<｜end▁of▁sentence｜>";
                is_tool = false;
            } else {
                // Earlier reasoning is dropped: only what follows the last </think> is kept.
                std::string_view content = *m.content;
                if (const size_t p = content.rfind("</think>"); p != std::string_view::npos)
                    content.remove_prefix(p + std::string_view("</think>").size());
                out += "<｜Assistant｜>";
                out += content;
                out += "<｜end▁of▁sentence｜>";
            }
        } else if (m.role == "tool") {
            if (!m.content) return null_content(i, m);
            is_tool = true;
            if (is_output_first) {
                out += "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>" + *m.content + "<｜tool▁output▁end｜>";
                is_output_first = false;
            } else {
                out += "\n<｜tool▁output▁begin｜>" + *m.content + "<｜tool▁output▁end｜>";
            }
        }
    }
    if (is_tool) out += "<｜tool▁outputs▁end｜>";
    if (add_generation_prompt && !is_tool) out += "<｜Assistant｜><think>\n";
    return out;
}

// Qwen2.5-Instruct's ChatML template (without a tools list): a first system message is kept in
// place; without one, Qwen's template adds its default. Runs of tool results share one user turn.
Result<std::string> ChatTemplate::render_chatml(const std::vector<ChatMessage>& messages,
                                                bool add_generation_prompt) const {
    std::string out;
    const bool first_is_system = !messages.empty() && messages[0].role == "system";
    if (first_is_system) {
        if (!messages[0].content) return null_content(0, messages[0]);
        out += "<|im_start|>system\n" + *messages[0].content + "<|im_end|>\n";
    } else if (qwen_default_system_) {
        out += "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";
    }
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        if (m.role == "system" && i == 0) continue;
        if (m.role == "user" || m.role == "system" || (m.role == "assistant" && m.tool_calls.empty())) {
            if (!m.content && m.role != "assistant") return null_content(i, m);
            out += "<|im_start|>" + m.role + "\n" + m.content.value_or("") + "<|im_end|>\n";
        } else if (m.role == "assistant") {
            out += "<|im_start|>assistant";
            if (m.content && !m.content->empty()) out += "\n" + *m.content;
            for (const ChatToolCall& call : m.tool_calls)
                out += "\n<tool_call>\n{\"name\": \"" + call.name + "\", \"arguments\": " +
                       tojson_arguments(call.arguments) + "}\n</tool_call>";
            out += "<|im_end|>\n";
        } else if (m.role == "tool") {
            if (!m.content) return null_content(i, m);
            if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
            out += "\n<tool_response>\n" + *m.content + "\n</tool_response>";
            if (i + 1 == messages.size() || messages[i + 1].role != "tool") out += "<|im_end|>\n";
        }
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// Llama-3 Instruct. 3.0: BOS before the first turn, every content trimmed. 3.1+ (the template
// mentions "Cutting Knowledge Date"): a system turn always comes first with the knowledge and
// today's date (the template's default "26 Jul 2024"); tool calls and results in its JSON form.
Result<std::string> ChatTemplate::render_llama3(const std::vector<ChatMessage>& messages,
                                                bool add_generation_prompt) const {
    std::string out;
    const auto turn = [&](const std::string& role, const std::string& content) {
        out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + py_strip(content) + "<|eot_id|>";
    };
    if (!llama31_system_) {
        for (size_t i = 0; i < messages.size(); ++i) {
            if (!messages[i].content && messages[i].role != "assistant") return null_content(i, messages[i]);
            if (i == 0) out += bos_text_;
            turn(messages[i].role, messages[i].content.value_or(""));
        }
    } else {
        size_t first = 0;
        std::string system;
        if (!messages.empty() && messages[0].role == "system") {
            if (!messages[0].content) return null_content(0, messages[0]);
            system = py_strip(*messages[0].content);
            first = 1;
        }
        out += bos_text_ + "<|start_header_id|>system<|end_header_id|>\n\n";
        out += "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
        out += system + "<|eot_id|>";
        for (size_t i = first; i < messages.size(); ++i) {
            const ChatMessage& m = messages[i];
            if (m.role == "tool" || m.role == "ipython") {
                if (!m.content) return null_content(i, m);
                // A string is "iterable" to the template, so it goes through tojson: quoted.
                out += "<|start_header_id|>ipython<|end_header_id|>\n\n" + tojson_string(*m.content) + "<|eot_id|>";
            } else if (!m.tool_calls.empty()) {
                if (m.tool_calls.size() != 1)
                    return Error::bad_argument("message {}: Llama 3.1 takes one tool call per turn, got {}", i,
                                               m.tool_calls.size());
                const ChatToolCall& call = m.tool_calls[0];
                out += "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"" + call.name +
                       "\", \"parameters\": " + tojson_arguments(call.arguments) + "}<|eot_id|>";
            } else {
                if (!m.content && m.role != "assistant") return null_content(i, m);
                turn(m.role, m.content.value_or(""));
            }
        }
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

}  // namespace retort
