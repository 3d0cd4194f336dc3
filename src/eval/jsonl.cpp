// File helpers for eval (see jsonl.h).
#include "eval/jsonl.h"

#include "eval/text.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace retort::eval {

Result<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::make(ErrorKind::kIo, "{}: cannot open: {}", path, std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Error::make(ErrorKind::kIo, "{}: read failed", path);
    return ss.str();
}

Status write_text_file(const std::string& path, std::string_view content) {
    // Write to a temporary name, then rename: a reader never sees half a file.
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return Error::make(ErrorKind::kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) return Error::make(ErrorKind::kIo, "{}: write failed", tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Error::make(ErrorKind::kIo, "{}: cannot rename into place: {}", path, ec.message());
    return ok_status();
}

Status make_directories(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Error::make(ErrorKind::kIo, "{}: cannot create directory: {}", path, ec.message());
    return ok_status();
}

Result<std::vector<JsonRow>> read_jsonl(const std::string& path) {
    auto text = read_text_file(path);
    if (!text) return text.error();
    std::vector<JsonRow> rows;
    size_t line_no = 0;
    for (std::string_view line : split_lines(*text)) {
        ++line_no;
        if (trim(line).empty()) continue;
        try {
            nlohmann::json j = nlohmann::json::parse(line);
            if (!j.is_object())
                return Error::bad_file(path, "line {}: expected a JSON object, found {}", line_no, j.type_name());
            rows.push_back({line_no - 1, std::move(j)});
        } catch (const nlohmann::json::exception& e) {
            return Error::bad_file(path, "line {}: invalid JSON: {}", line_no, e.what());
        }
    }
    return rows;
}

std::string dump_json(const nlohmann::json& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> string_field(const nlohmann::json& row, std::string_view key, const std::string& where) {
    const auto it = row.find(key);
    if (it == row.end()) return Error::make(ErrorKind::kBadFile, "{}: missing field '{}'", where, key);
    if (!it->is_string())
        return Error::make(ErrorKind::kBadFile, "{}: field '{}' is {}, expected a string", where, key, it->type_name());
    return it->get<std::string>();
}

}  // namespace retort::eval
