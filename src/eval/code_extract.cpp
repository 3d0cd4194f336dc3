// Program extraction from code answers (see code_extract.h).
#include "eval/code_extract.h"

#include "eval/answer_extract.h"
#include "eval/text.h"

#include <algorithm>
#include <cctype>

namespace retort::eval {

namespace {

// A fence line: up to 3 spaces, then 3+ '`' or '~'. Returns the fence length, 0 if none.
size_t fence_length(std::string_view line, char* fence_char) {
    size_t i = 0;
    while (i < line.size() && i < 3 && line[i] == ' ') ++i;
    if (i >= line.size() || (line[i] != '`' && line[i] != '~')) return 0;
    const char c = line[i];
    size_t n = 0;
    while (i + n < line.size() && line[i + n] == c) ++n;
    if (n < 3) return 0;
    *fence_char = c;
    return n;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_python_lang(std::string_view lang) {
    return lang.empty() || lang == "python" || lang == "py" || lang == "python3" || lang == "py3";
}

}  // namespace

std::vector<FencedBlock> fenced_blocks(std::string_view text) {
    std::vector<FencedBlock> blocks;
    bool inside = false;
    char open_char = 0;
    size_t open_len = 0;
    FencedBlock current;
    for (std::string_view line : split_lines(text)) {
        char c = 0;
        const size_t n = fence_length(line, &c);
        if (!inside) {
            if (n == 0) continue;
            inside = true;
            open_char = c;
            open_len = n;
            const size_t start = line.find_first_not_of(' ');
            std::string_view info = trim(line.substr(start + n));
            info = info.substr(0, info.find_first_of(" \t{"));
            current = FencedBlock{lower(info), "", false};
            continue;
        }
        if (n >= open_len && c == open_char && trim(line).find_first_not_of(c) == std::string_view::npos) {
            current.closed = true;
            blocks.push_back(std::move(current));
            current = FencedBlock{};
            inside = false;
            continue;
        }
        current.body.append(line);
        current.body += '\n';
    }
    if (inside) blocks.push_back(std::move(current));  // cut off inside a block
    return blocks;
}

CodeAnswer extract_code_answer(std::string_view output) {
    CodeAnswer out;
    const OutputParts parts = split_output(output);
    out.truncated = parts.truncated;
    if (parts.truncated) return out;
    const auto blocks = fenced_blocks(parts.answer);
    const FencedBlock* chosen = nullptr;
    for (const auto& b : blocks)
        if (is_python_lang(b.lang)) chosen = &b;
    if (chosen == nullptr && !blocks.empty()) chosen = &blocks.back();
    std::string code;
    if (chosen != nullptr) {
        code = chosen->body;
        out.from_fence = true;
    } else {
        std::string_view a = parts.answer;
        // Drop leading blank lines but keep the first line's indentation (a HumanEval body).
        while (!a.empty()) {
            const size_t nl = a.find('\n');
            if (nl == std::string_view::npos || !trim(a.substr(0, nl)).empty()) break;
            a.remove_prefix(nl + 1);
        }
        code = std::string(a);
    }
    code = replace_all(code, "[BEGIN]", "");
    code = replace_all(code, "[DONE]", "");
    out.code = std::move(code);
    return out;
}

bool defines_function(std::string_view code, std::string_view name) {
    for (std::string_view line : split_lines(code)) {
        if (starts_with(line, "async ")) line.remove_prefix(6);
        if (!starts_with(line, "def ")) continue;
        line.remove_prefix(4);
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (starts_with(line, name)) {
            std::string_view rest = line.substr(name.size());
            while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
            if (!rest.empty() && rest.front() == '(') return true;
        }
    }
    return false;
}

std::string indent_body(std::string_view code) {
    const auto lines = split_lines(code);
    const auto first = std::find_if(lines.begin(), lines.end(), [](std::string_view l) { return !trim(l).empty(); });
    if (first == lines.end() || first->front() == ' ' || first->front() == '\t') return std::string(code);
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (!trim(lines[i]).empty()) out += "    ";
        out.append(lines[i]);
        if (i + 1 < lines.size()) out += '\n';
    }
    return out;
}

}  // namespace retort::eval
