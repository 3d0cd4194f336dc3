// Paths and file readers shared by the test binaries (each test file used to carry its own copy).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace retort {

// tests/data of the source tree, set by tests/CMakeLists.txt.
inline const std::string kData = RETORT_TEST_DATA;
// The tiny random-weight Qwen2 model in F32, with the real R1 tokenizer.
inline const std::string kTinyQwen2 = kData + "/tiny/tiny-qwen2-F32.gguf";

inline std::vector<uint8_t> read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The file parsed as JSON; a test failure (and null) when it is missing.
inline nlohmann::json read_json_file(const std::string& path) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    return in.good() ? nlohmann::json::parse(in) : nlohmann::json();
}

}  // namespace retort
