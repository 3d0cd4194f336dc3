// Shared helpers for the eval tests: where the datasets are, loading a suite's items.
#pragma once

#include "eval/suite.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>

#include <string>
#include <vector>

namespace retort::eval::testing {

// data/eval/ of the source tree (tests/data is RETORT_TEST_DATA).
inline std::string data_dir() { return std::string(RETORT_TEST_DATA) + "/../../data/eval"; }

inline std::vector<EvalItem> load_suite(const std::string& name) {
    const Suite* suite = find_suite(name);
    EXPECT_NE(suite, nullptr) << name;
    if (suite == nullptr) return {};
    auto items = load_items(*suite, data_dir() + "/" + std::string(suite->data_file));
    EXPECT_TRUE(items.ok()) << (items.ok() ? "" : items.error().message);
    return items.ok() ? std::move(*items) : std::vector<EvalItem>{};
}

// `retort ARGS` with stderr folded into stdout; rc is the exit status (-1 if killed).
struct Cmd {
    int rc;
    std::string out;
};
inline Cmd run(const std::string& args) {
    const std::string cmd = std::string(RETORT_BINARY) + " " + args + " 2>&1";
    Cmd c{-1, {}};
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return c;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) c.out.append(buf, n);
    const int st = pclose(p);
    c.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return c;
}

inline const EvalItem* find_item(const std::vector<EvalItem>& items, const std::string& id) {
    for (const auto& it : items)
        if (it.id == id) return &it;
    return nullptr;
}

}  // namespace retort::eval::testing
