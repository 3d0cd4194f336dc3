// Answer extraction from R1-style outputs (see answer_extract.h).
#include "eval/answer_extract.h"

#include "eval/text.h"

#include <cctype>

namespace retort::eval {

namespace {
constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

}  // namespace

OutputParts split_output(std::string_view output) {
    OutputParts parts;
    const size_t close = output.rfind(kThinkClose);
    if (close != std::string_view::npos) {
        std::string_view reasoning = output.substr(0, close);
        const size_t open = reasoning.find(kThinkOpen);
        if (open != std::string_view::npos) reasoning = reasoning.substr(open + kThinkOpen.size());
        parts.reasoning = reasoning;
        parts.answer = output.substr(close + kThinkClose.size());
        return parts;
    }
    const size_t open = output.find(kThinkOpen);
    if (open != std::string_view::npos) {
        parts.reasoning = output.substr(open + kThinkOpen.size());
        parts.truncated = true;
        return parts;
    }
    parts.answer = output;
    return parts;
}

std::optional<std::string> last_boxed(std::string_view text) {
    // Walk the \boxed / \fbox occurrences from the last one back; the first non-empty wins.
    size_t search_end = text.size();
    while (search_end > 0) {
        const size_t b = text.rfind("\\boxed", search_end - 1);
        const size_t f = text.rfind("\\fbox", search_end - 1);
        size_t at;
        size_t len;
        if (b != std::string_view::npos && (f == std::string_view::npos || b > f)) {
            at = b;
            len = 6;
        } else if (f != std::string_view::npos) {
            at = f;
            len = 5;
        } else {
            return std::nullopt;
        }
        search_end = at;
        size_t i = at + len;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        if (i < text.size() && text[i] == '{') {
            int depth = 0;
            size_t j = i;
            for (; j < text.size(); ++j) {
                if (text[j] == '\\' && j + 1 < text.size() && (text[j + 1] == '{' || text[j + 1] == '}')) {
                    ++j;  // escaped brace: \{ \} are set braces, not grouping
                    continue;
                }
                if (text[j] == '{') ++depth;
                else if (text[j] == '}' && --depth == 0) break;
            }
            if (j >= text.size()) continue;  // unbalanced: cut off mid-box
            const std::string_view content = trim(text.substr(i + 1, j - i - 1));
            if (!content.empty()) return std::string(content);
        } else if (i > at + len) {
            // "\boxed 5": the token up to the next blank or '$'.
            size_t j = i;
            while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j])) && text[j] != '$') ++j;
            const std::string_view content = trim(text.substr(i, j - i));
            if (!content.empty()) return std::string(content);
        }
    }
    return std::nullopt;
}

std::optional<std::string> last_number(std::string_view text) {
    std::optional<std::string> found;
    size_t i = 0;
    while (i < text.size()) {
        const bool starts = is_digit(text[i]) || (text[i] == '.' && i + 1 < text.size() && is_digit(text[i + 1]));
        if (!starts || (i > 0 && (is_digit(text[i - 1]) || std::isalpha(static_cast<unsigned char>(text[i - 1]))))) {
            ++i;
            continue;
        }
        size_t start = i;
        // A minus sign, unless it is a subtraction ("3-2").
        if (start > 0 && text[start - 1] == '-' &&
            (start < 2 || !std::isalnum(static_cast<unsigned char>(text[start - 2]))))
            --start;
        size_t j = i;
        while (j < text.size() && is_digit(text[j])) ++j;
        // Thousands groups: ",ddd" not followed by another digit.
        while (j + 3 < text.size() && text[j] == ',' && is_digit(text[j + 1]) && is_digit(text[j + 2]) &&
               is_digit(text[j + 3]) && (j + 4 >= text.size() || !is_digit(text[j + 4])))
            j += 4;
        if (j + 1 < text.size() && text[j] == '.' && is_digit(text[j + 1])) {
            ++j;
            while (j < text.size() && is_digit(text[j])) ++j;
        }
        if (j + 1 < text.size() && text[j] == '/' && is_digit(text[j + 1])) {
            ++j;
            while (j < text.size() && is_digit(text[j])) ++j;
        }
        if (j < text.size() && text[j] == '%') ++j;
        found = std::string(text.substr(start, j - start));
        i = j;
    }
    return found;
}

const char* extract_method_name(ExtractMethod m) {
    switch (m) {
        case ExtractMethod::kBoxed: return "boxed";
        case ExtractMethod::kLastNumber: return "last_number";
        case ExtractMethod::kNone: break;
    }
    return "none";
}

MathAnswer extract_math_answer(std::string_view output) {
    MathAnswer out;
    const OutputParts parts = split_output(output);
    out.truncated = parts.truncated;
    if (parts.truncated) return out;
    if (auto boxed = last_boxed(parts.answer)) {
        out.answer = std::move(*boxed);
        out.method = ExtractMethod::kBoxed;
    } else if (auto number = last_number(parts.answer)) {
        out.answer = std::move(*number);
        out.method = ExtractMethod::kLastNumber;
    }
    return out;
}

}  // namespace retort::eval
