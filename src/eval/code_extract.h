// Finding the program in a code answer: the last ```python block after </think>, else the
// whole answer; and helpers for gluing it to the dataset's prompt (suites.cpp decides how).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace retort::eval {

struct FencedBlock {
    std::string lang;  // info string after the opening fence, lower-cased ("python", "")
    std::string body;
    bool closed = true;  // false: the output ended inside the block
};
// Blocks opened by a line of 3+ backticks or tildes (up to 3 spaces indent), closed by a line
// of at least as many of the same character.
std::vector<FencedBlock> fenced_blocks(std::string_view text);

struct CodeAnswer {
    std::string code;        // empty when the output was cut off while reasoning
    bool from_fence = false;
    bool truncated = false;  // "<think>" never closed
};
// After </think>: the last python (or unlabeled) fenced block, else the last fenced block,
// else the whole answer without its leading blank lines. "[BEGIN]" / "[DONE]" are dropped.
CodeAnswer extract_code_answer(std::string_view output);

// True if the code defines `name` at top level ("def name(" or "async def name(" at column 0).
bool defines_function(std::string_view code, std::string_view name);

// A body written without its indentation ("return sorted(x)") gets four spaces per line, so
// that it can continue a HumanEval prompt; code whose first line is indented is unchanged.
std::string indent_body(std::string_view code);

}  // namespace retort::eval
