// Reading and writing the small files eval works with: JSON Lines datasets and answers,
// items.jsonl and summary.json. JSON errors become Errors that name the file and line.
#pragma once

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace retort::eval {

Result<std::string> read_text_file(const std::string& path);
Status write_text_file(const std::string& path, std::string_view content);
// Creates the directory and its parents (like mkdir -p).
Status make_directories(const std::string& path);

// One JSON object per non-blank line; `line` is the 0-based line number in the file.
struct JsonRow {
    size_t line = 0;
    nlohmann::json value;
};
Result<std::vector<JsonRow>> read_jsonl(const std::string& path);

// JSON text with invalid UTF-8 replaced (model outputs may hold broken bytes).
std::string dump_json(const nlohmann::json& j, int indent = -1);

// Field access with errors that say where: "FILE:LINE: field 'x' ...".
Result<std::string> string_field(const nlohmann::json& row, std::string_view key, const std::string& where);

}  // namespace retort::eval
