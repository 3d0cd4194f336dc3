// Helpers shared by the tokenizer tests: fixture paths, loading a vocab, printing id lists.
#pragma once

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace retort::test {

inline std::string data_path(const std::string& rel) { return std::string(RETORT_TEST_DATA) + "/" + rel; }

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A GGUF file and the tokenizer built from it (the tokenizer may view the file's memory).
struct LoadedVocab {
    std::unique_ptr<GgufFile> file;
    std::unique_ptr<Tokenizer> tok;
};

inline LoadedVocab load_vocab(const std::string& rel) {
    LoadedVocab v;
    auto f = GgufFile::open(data_path(rel));
    if (!f.ok()) {
        ADD_FAILURE() << f.error().message;
        return v;
    }
    v.file = std::move(f.value());
    auto t = Tokenizer::from_gguf(*v.file);
    if (!t.ok()) {
        ADD_FAILURE() << t.error().message;
        return v;
    }
    v.tok = std::move(t.value());
    return v;
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

}  // namespace retort::test
