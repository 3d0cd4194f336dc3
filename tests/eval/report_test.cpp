// The report: table rows and "—" for unmeasured figures, Markdown, and the HTML page rendered
// by headless Chromium with the table and all three charts present. The runs here are
// synthetic fixtures (made-up figures), not measurements.
#include "eval/grader.h"
#include "eval/jsonl.h"
#include "eval/report.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <regex>

namespace retort::eval {
namespace {

namespace fs = std::filesystem;

struct Fixture {
    const char* name;
    const char* params;
    const char* quant;
    double size_gib, peak_gib, ms_per_token;
    std::vector<std::tuple<const char*, double, double>> suites;  // suite, accuracy, reasoning tokens
};

RunSummary make_run(const Fixture& f, const char* suite, double accuracy, double think_tokens) {
    RunSummary s;
    s.suite = suite;
    s.kind = std::string(suite).find("human") != std::string::npos || std::string(suite) == "mbpp" ? "code" : "math";
    s.source = "eval";
    s.n = s.n_samples = 200;
    s.correct = static_cast<size_t>(accuracy * 200);
    s.accuracy = static_cast<double>(s.correct) / 200.0;
    std::tie(s.ci_low, s.ci_high) = wilson_interval(s.correct, s.n_samples);
    s.pass_at_k[1] = s.accuracy;
    s.created = "2026-11-29T00:00:00Z";
    s.model = ModelInfo{f.name, std::string(f.name) + "." + f.quant + ".gguf", f.params, f.quant,
                        static_cast<uint64_t>(f.size_gib * (1ull << 30))};
    s.perf.peak_memory_bytes = static_cast<uint64_t>(f.peak_gib * (1ull << 30));
    s.perf.ms_per_token = f.ms_per_token;
    s.perf.tokens_per_s = 1000.0 / f.ms_per_token;
    s.perf.mean_reasoning_tokens = think_tokens;
    s.perf.mean_answer_tokens = think_tokens / 8;
    s.mean_reasoning_chars = think_tokens * 3.8;
    s.mean_answer_chars = think_tokens / 2;
    return s;
}

std::vector<RunEntry> fixture_runs() {
    const std::vector<Fixture> fixtures = {
        {"R1-Distill-Qwen-1.5B (fixture)", "1.5B", "Q4_K_M", 1.04, 1.6, 9.5,
         {{"gsm8k", 0.74, 1650}, {"math500", 0.69, 3400}, {"cmath", 0.66, 1500}, {"humaneval", 0.42, 2900}}},
        {"R1-Distill-Qwen-7B (fixture)", "7B", "Q4_K_M", 4.36, 5.1, 36.0,
         {{"gsm8k", 0.88, 1200}, {"math500", 0.85, 2900}, {"cmath", 0.83, 1100}, {"humaneval", 0.71, 2500}}},
        {"R1-Distill-Llama-8B (fixture)", "8B", "Q8_0", 7.95, 8.6, 68.0,
         {{"gsm8k", 0.86, 1300}, {"math500", 0.81, 3000}, {"humaneval", 0.69, 2400}}},
        {"R1-Distill-Qwen-14B (fixture)", "14B", "Q4_K_M", 8.37, 9.4, 71.0,
         {{"gsm8k", 0.93, 1000}, {"math500", 0.90, 2600}, {"cmath", 0.88, 950}, {"humaneval", 0.80, 2100}}},
    };
    std::vector<RunEntry> runs;
    for (const auto& f : fixtures)
        for (const auto& [suite, acc, think] : f.suites)
            runs.push_back({std::string("runs/") + f.params + "-" + suite, make_run(f, suite, acc, think)});
    // A grade-only run: outputs made elsewhere, no model figures at all.
    RunSummary g;
    g.suite = "gsm8k";
    g.kind = "math";
    g.source = "grade";
    g.n = g.n_samples = 50;
    g.correct = 46;
    g.accuracy = 0.92;
    std::tie(g.ci_low, g.ci_high) = wilson_interval(46, 50);
    g.mean_reasoning_chars = 2100;
    g.mean_answer_chars = 300;
    runs.push_back({"runs/grade-gsm8k-api", g});
    return runs;
}

TEST(Report, RowsAndMissingFigures) {
    const auto runs = fixture_runs();
    const auto rows = build_rows(runs);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0].label, "R1-Distill-Qwen-1.5B (fixture)");
    EXPECT_EQ(rows[0].runs.size(), 4u);
    EXPECT_EQ(rows[4].label, "grade-gsm8k-api");
    EXPECT_FALSE(rows[4].peak_memory_bytes.has_value());
    EXPECT_EQ(report_suites(runs), (std::vector<std::string>{"gsm8k", "math500", "cmath", "humaneval"}));
    const std::string md = render_report_markdown(runs, "now");
    EXPECT_NE(md.find("| R1-Distill-Qwen-7B (fixture) | 7B | Q4_K_M |"), std::string::npos) << md;
    // The grade-only row: every model figure is a dash, its one suite has a value.
    EXPECT_NE(md.find("| grade-gsm8k-api | — | — | — | — | — | — | — | 92.0%"), std::string::npos) << md;
    EXPECT_EQ(format_bytes(std::nullopt), "—");
    EXPECT_EQ(format_bytes(uint64_t{5} << 30), "5.00 GiB");
}

TEST(Report, LoadsRunDirectoriesAndRejectsBadOnes) {
    const fs::path dir = fs::temp_directory_path() / ("retort-report-test-" + std::to_string(getpid()));
    fs::create_directories(dir / "a");
    GradedRun run;
    run.summary = fixture_runs()[0].summary;
    ASSERT_TRUE(write_run((dir / "a").string(), run).ok());
    auto runs = load_runs({(dir / "a").string(), (dir / "a" / "summary.json").string()});
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    EXPECT_EQ(runs->size(), 2u);
    EXPECT_FALSE(load_runs({(dir / "missing").string()}).ok());
    ASSERT_TRUE(write_text_file((dir / "bad.json").string(), "{\"schema\": \"retort.eval.summary/1\"}").ok());
    const auto bad = load_runs({(dir / "bad.json").string()});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("suite"), std::string::npos) << bad.error().message;
    EXPECT_FALSE(load_runs({}).ok());
    fs::remove_all(dir);
}

std::string run_command(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

size_t count(const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
}

TEST(Report, HtmlIsSelfContainedAndChromiumRendersTableAndCharts) {
    const auto runs = fixture_runs();
    const std::string html = render_report_html(runs, "2026-11-29T00:00:00Z");
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the SVG namespace
    EXPECT_EQ(html.find("https://"), std::string::npos);
    for (const char* id : {"id=\"comparison\"", "id=\"chart-accuracy-memory\"", "id=\"chart-accuracy-latency\"",
                           "id=\"chart-thinking-tokens\""})
        EXPECT_NE(html.find(id), std::string::npos) << id;

    // Written into the build tree so the screenshot can be looked at after a run.
    const fs::path out_dir = fs::path(RETORT_BINARY).parent_path() / "eval-report-check";
    fs::create_directories(out_dir);
    const std::string page = (out_dir / "report.html").string();
    ASSERT_TRUE(write_text_file(page, html).ok());
    const char* chromium = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0) GTEST_SKIP() << "chromium not installed (apt-get install chromium); " << page;
    const std::string flags = std::string(chromium) +
                              " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                              "--disable-background-networking --disable-component-update --disable-sync "
                              "--user-data-dir=" + (out_dir / "profile").string() + " --window-size=1400,1800 ";
    const std::string dom = run_command("timeout 120 " + flags + "--dump-dom file://" + page + " 2>/dev/null");
    ASSERT_FALSE(dom.empty()) << "chromium printed no DOM";
    // The table: a header per suite, one row per model.
    EXPECT_NE(dom.find("<table id=\"comparison\">"), std::string::npos);
    EXPECT_EQ(count(dom, "<th class=\"suite\">"), 4u);
    EXPECT_EQ(count(dom.substr(dom.find("id=\"comparison\""), dom.find("id=\"runs\"") - dom.find("id=\"comparison\"")),
                    "<td class=\"model\">"),
              5u);
    // Every chart, with its marks: one dot per (model, suite) that has the x figure, one bar
    // per (model, suite) with token counts.
    auto chart = [&](const std::string& id) {
        const size_t b = dom.find("<svg id=\"" + id + "\"");
        const size_t e = dom.find("</svg>", b);
        return b == std::string::npos ? std::string() : dom.substr(b, e - b);
    };
    EXPECT_EQ(count(chart("chart-accuracy-memory"), "<circle cx"), 15u + 4u);  // 15 dots + 4 legend
    EXPECT_EQ(count(chart("chart-accuracy-latency"), "<circle cx"), 15u + 4u);
    EXPECT_EQ(count(chart("chart-thinking-tokens"), "<rect x") - 1 /* background */, 2u * 15u + 2u);
    const std::string png = (out_dir / "report.png").string();
    run_command("timeout 120 " + flags + "--screenshot=" + png + " file://" + page + " 2>/dev/null");
    EXPECT_TRUE(fs::exists(png) && fs::file_size(png) > 10000) << png;
    std::printf("report rendered by chromium: %s\n", png.c_str());
}

}  // namespace
}  // namespace retort::eval
