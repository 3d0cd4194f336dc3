// main() of every test binary: GoogleTest's, plus a summary of each failed test's messages at
// the very end of the output. CI logs keep only the tail of a long run, and a failure message
// printed in the middle of hundreds of lines is otherwise lost there.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

class FailureSummary : public testing::EmptyTestEventListener {
public:
    void OnTestEnd(const testing::TestInfo& info) override {
        const testing::TestResult& result = *info.result();
        if (!result.Failed()) return;
        std::string text = std::string(info.test_suite_name()) + "." + info.name() + ":";
        for (int i = 0, shown = 0; i < result.total_part_count() && shown < 3; ++i) {
            const testing::TestPartResult& part = result.GetTestPartResult(i);
            if (!part.failed()) continue;
            std::string message = part.message();
            if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + " [...]";
            text += "\n    " + std::string(part.file_name() ? part.file_name() : "?") + ":" +
                    std::to_string(part.line_number()) + ": " + message;
            ++shown;
        }
        failures_.push_back(std::move(text));
    }

    void OnTestProgramEnd(const testing::UnitTest&) override {
        if (failures_.empty()) return;
        std::printf("\n=== %zu failed test(s), first messages of each ===\n", failures_.size());
        for (const auto& f : failures_) std::printf("%s\n", f.c_str());
        std::fflush(stdout);
    }

private:
    static constexpr size_t kMaxMessage = 600;
    std::vector<std::string> failures_;
};

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    testing::UnitTest::GetInstance()->listeners().Append(new FailureSummary);
    return RUN_ALL_TESTS();
}
