// Finding the answer in an R1-style output: the text after </think>, then the last \boxed{}
// (nested braces), else the last number. Comparing answers is math_compare.h's job.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace retort::eval {

// An output split at its reasoning block. R1 outputs look like "<think>\n...\n</think>\n\nanswer";
// the chat template of the distills already puts "<think>\n" in the prompt, so an output
// often starts inside the block and only "</think>" is seen.
struct OutputParts {
    std::string_view reasoning;  // before the last </think> (without the tags); empty if none
    std::string_view answer;     // after the last </think>; the whole text if there is no block
    bool truncated = false;      // "<think>" opened but never closed: cut off while reasoning
};
OutputParts split_output(std::string_view output);

// Content of the last \boxed{...} (or \fbox{...}) with balanced braces; also "\boxed 5".
// Empty boxes are skipped. nullopt if there is none.
std::optional<std::string> last_boxed(std::string_view text);

// The last number written in the text: "-3", "1,234.5", "3/4", "12%", ".5".
std::optional<std::string> last_number(std::string_view text);

enum class ExtractMethod { kNone, kBoxed, kLastNumber };
const char* extract_method_name(ExtractMethod m);

struct MathAnswer {
    std::string answer;  // what will be compared; empty when nothing was found
    ExtractMethod method = ExtractMethod::kNone;
    bool truncated = false;
};
// The answer of a math output: last \boxed{} after </think>, else the last number there.
// A truncated output (reasoning never closed) has no answer.
MathAnswer extract_math_answer(std::string_view output);

}  // namespace retort::eval
