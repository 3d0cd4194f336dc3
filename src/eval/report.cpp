// Report rendering (see report.h). The page: comparison table, three charts (accuracy vs
// memory, accuracy vs ms/token, tokens spent thinking), then the list of runs.
#include "eval/report.h"

#include "eval/jsonl.h"
#include "eval/svg_chart.h"
#include "eval/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

namespace retort::eval {

namespace {

constexpr const char* kDash = "\xE2\x80\x94";  // "—": the value is not known for this run

std::string dir_label(const std::string& dir) {
    std::filesystem::path p(dir);
    if (p.filename() == "summary.json") p = p.parent_path();
    std::string name = p.filename().string();
    if (name.empty() || name == ".") name = p.parent_path().filename().string();
    return name.empty() ? dir : name;
}

std::string model_key(const RunEntry& r) {
    if (r.summary.model && !r.summary.model->name.empty())
        return r.summary.model->name + "\x1f" + r.summary.model->quant + "\x1f" + r.summary.model->file;
    return "\x1e" + r.dir;
}

std::string opt_num(std::optional<double> v, const char* f) {
    return v ? fmt::format(fmt::runtime(f), *v) : std::string(kDash);
}

std::string or_dash(const std::string& s) { return s.empty() ? std::string(kDash) : s; }

std::optional<double> thinking_tokens(const ReportRow& row) { return row.mean_reasoning_tokens; }

const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1360px;
       color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
p.meta, p.note { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { border-bottom: 1px solid #ddd; padding: 5px 8px; text-align: right; white-space: nowrap; }
div.table-wrap { overflow-x: auto; max-width: 100%; }
th { background: #f4f6f8; font-weight: 600; }
td.model, th.model { text-align: left; }
td.missing { color: #999; }
span.ci { color: #777; font-size: 11px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 16px; }
figure { margin: 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px; background: #fff; }
figcaption { font-size: 12px; color: #555; max-width: 620px; padding: 4px 8px; }
svg.chart { max-width: 100%; height: auto; }
)";

}  // namespace

Result<std::vector<RunEntry>> load_runs(const std::vector<std::string>& paths) {
    if (paths.empty()) return Error::bad_argument("report: no run directories given");
    std::vector<RunEntry> runs;
    for (const std::string& path : paths) {
        std::string file = path;
        if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "summary.json").string();
        auto text = read_text_file(file);
        if (!text) return Error::make(ErrorKind::kIo, "{} (is '{}' a run directory of retort grade/eval?)",
                                      text.error().message, path);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(*text);
        } catch (const nlohmann::json::exception& e) {
            return Error::bad_file(file, "invalid JSON: {}", e.what());
        }
        auto s = summary_from_json(j, file);
        if (!s) return s.error();
        runs.push_back({path, std::move(*s)});
    }
    return runs;
}

const RunEntry* ReportRow::run_for(const std::string& suite) const {
    for (const RunEntry* r : runs)
        if (r->summary.suite == suite) return r;
    return nullptr;
}

std::vector<std::string> report_suites(const std::vector<RunEntry>& runs) {
    std::vector<std::string> suites;
    for (const auto& r : runs)
        if (std::find(suites.begin(), suites.end(), r.summary.suite) == suites.end()) suites.push_back(r.summary.suite);
    return suites;
}

std::vector<ReportRow> build_rows(const std::vector<RunEntry>& runs) {
    std::vector<ReportRow> rows;
    std::map<std::string, size_t> row_of;
    for (const RunEntry& r : runs) {
        const std::string key = model_key(r);
        auto [it, inserted] = row_of.emplace(key, rows.size());
        if (inserted) {
            ReportRow row;
            if (r.summary.model && !r.summary.model->name.empty()) {
                row.label = r.summary.model->name;
                row.params = r.summary.model->params;
                row.quant = r.summary.model->quant;
            } else {
                row.label = dir_label(r.dir);
            }
            rows.push_back(std::move(row));
        }
        ReportRow& row = rows[it->second];
        // The last run given for a suite replaces an earlier one.
        auto same = std::find_if(row.runs.begin(), row.runs.end(),
                                 [&](const RunEntry* e) { return e->summary.suite == r.summary.suite; });
        if (same != row.runs.end()) *same = &r;
        else row.runs.push_back(&r);
    }
    // Figures over a row's runs: memory is the peak, speeds and token counts are means
    // weighted by answers graded.
    for (ReportRow& row : rows) {
        double w_ms = 0, ms = 0, w_tps = 0, tps = 0, w_rt = 0, rt = 0, w_at = 0, at = 0;
        for (const RunEntry* e : row.runs) {
            const RunSummary& s = e->summary;
            const double w = std::max<double>(1.0, static_cast<double>(s.n_samples));
            if (s.model && s.model->size_bytes) row.size_bytes = std::max(row.size_bytes.value_or(0), *s.model->size_bytes);
            if (s.perf.peak_memory_bytes)
                row.peak_memory_bytes = std::max(row.peak_memory_bytes.value_or(0), *s.perf.peak_memory_bytes);
            if (s.perf.ms_per_token) { ms += w * *s.perf.ms_per_token; w_ms += w; }
            if (s.perf.tokens_per_s) { tps += w * *s.perf.tokens_per_s; w_tps += w; }
            if (s.perf.mean_reasoning_tokens) { rt += w * *s.perf.mean_reasoning_tokens; w_rt += w; }
            if (s.perf.mean_answer_tokens) { at += w * *s.perf.mean_answer_tokens; w_at += w; }
        }
        if (w_ms > 0) row.ms_per_token = ms / w_ms;
        if (w_tps > 0) row.tokens_per_s = tps / w_tps;
        if (w_rt > 0) row.mean_reasoning_tokens = rt / w_rt;
        if (w_at > 0) row.mean_answer_tokens = at / w_at;
    }
    return rows;
}

std::string format_bytes(std::optional<uint64_t> bytes) {
    if (!bytes) return kDash;
    const double b = static_cast<double>(*bytes);
    if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
    if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
    return fmt::format("{:.0f} KiB", b / 1024.0);
}

std::string format_percent(double fraction) { return fmt::format("{:.1f}%", 100.0 * fraction); }

namespace {

ScatterChart accuracy_chart(const std::vector<ReportRow>& rows, const std::vector<std::string>& suites, bool memory) {
    ScatterChart c;
    c.id = memory ? "chart-accuracy-memory" : "chart-accuracy-latency";
    c.title = memory ? "Accuracy vs peak memory" : "Accuracy vs latency";
    c.x_label = memory ? "peak memory (GiB)" : "ms per generated token (log scale when wide)";
    c.y_label = "accuracy (%)";
    c.series = suites;
    c.empty_note = memory ? "no run reports peak memory (grade-only runs do not)"
                          : "no run reports ms/token (grade-only runs do not)";
    double lo = INFINITY, hi = 0;
    for (const ReportRow& row : rows) {
        std::optional<double> x;
        if (memory && row.peak_memory_bytes) x = static_cast<double>(*row.peak_memory_bytes) / (1024.0 * 1024 * 1024);
        if (!memory) x = row.ms_per_token;
        if (!x) continue;
        lo = std::min(lo, *x);
        hi = std::max(hi, *x);
        for (size_t si = 0; si < suites.size(); ++si) {
            const RunEntry* e = row.run_for(suites[si]);
            if (e == nullptr) continue;
            const RunSummary& s = e->summary;
            c.points.push_back({*x, 100.0 * s.accuracy, si, row.label,
                                fmt::format("{} — {}: {} (95% CI {}–{}), n={}; {}", row.label, s.suite,
                                            format_percent(s.accuracy), format_percent(s.ci_low),
                                            format_percent(s.ci_high), s.n_samples,
                                            memory ? format_bytes(row.peak_memory_bytes)
                                                   : fmt::format("{:.1f} ms/token", *x))});
        }
    }
    c.log_x = !memory && hi > 0 && lo > 0 && hi / lo > 20;
    return c;
}

BarChart thinking_chart(const std::vector<ReportRow>& rows, const std::vector<std::string>& suites) {
    // Tokens when the runs counted them (retort eval, endpoints with usage); else characters
    // of text, so that grade-only runs still show how long they thought.
    bool have_tokens = false;
    for (const ReportRow& row : rows)
        for (const RunEntry* e : row.runs) have_tokens |= e->summary.perf.mean_reasoning_tokens.has_value();
    BarChart c;
    c.id = "chart-thinking-tokens";
    c.title = have_tokens ? "Tokens spent thinking (mean per answer)" : "Thinking length (mean characters per answer)";
    c.x_label = have_tokens ? "tokens: reasoning (solid) + answer (light)" : "characters: reasoning (solid) + answer (light)";
    c.series = suites;
    c.segment_names = {"reasoning", "answer"};
    c.empty_note = "no runs";
    for (const ReportRow& row : rows) {
        for (size_t si = 0; si < suites.size(); ++si) {
            const RunEntry* e = row.run_for(suites[si]);
            if (e == nullptr) continue;
            const RunSummary& s = e->summary;
            double think, answer;
            if (have_tokens) {
                if (!s.perf.mean_reasoning_tokens) continue;
                think = *s.perf.mean_reasoning_tokens;
                answer = s.perf.mean_answer_tokens.value_or(0);
            } else {
                think = s.mean_reasoning_chars;
                answer = s.mean_answer_chars;
            }
            c.rows.push_back({row.label, s.suite, si, {think, answer},
                              fmt::format("{} — {}: {:.0f} thinking + {:.0f} answer {}", row.label, s.suite, think,
                                          answer, have_tokens ? "tokens" : "characters")});
        }
    }
    return c;
}

std::string accuracy_cell_html(const RunEntry* e) {
    if (e == nullptr) return fmt::format("<td class=\"missing\">{}</td>", kDash);
    const RunSummary& s = e->summary;
    return fmt::format("<td title=\"{}/{} correct; 95% Wilson CI {}–{}\">{}<br><span class=\"ci\">{:.1f}–{:.1f}</span></td>",
                       s.correct, s.n_samples, format_percent(s.ci_low), format_percent(s.ci_high),
                       format_percent(s.accuracy), 100.0 * s.ci_low, 100.0 * s.ci_high);
}

std::string cell(const std::string& text) {
    return text == kDash ? fmt::format("<td class=\"missing\">{}</td>", kDash) : "<td>" + xml_escape(text) + "</td>";
}

}  // namespace

std::string render_report_html(const std::vector<RunEntry>& runs, const std::string& generated_at) {
    const auto rows = build_rows(runs);
    const auto suites = report_suites(runs);
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    h += "<title>retort report: R1 distills side by side</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
    h += "<h1>retort report: reasoning and coding, side by side</h1>\n";
    h += fmt::format("<p class=\"meta\">{} runs, {} models, {} suites · generated {}</p>\n", runs.size(), rows.size(),
                     suites.size(), xml_escape(generated_at));

    h += "<div class=\"table-wrap\"><table id=\"comparison\">\n<thead><tr><th class=\"model\">Model</th><th>Params</th><th>Quant</th>"
         "<th>Size</th><th>Peak memory</th><th>ms/token</th><th>tokens/s</th><th>Thinking tokens</th>";
    for (const auto& s : suites) h += "<th class=\"suite\">" + xml_escape(s) + "</th>";
    h += "</tr></thead>\n<tbody>\n";
    for (const ReportRow& row : rows) {
        h += "<tr><td class=\"model\">" + xml_escape(row.label) + "</td>";
        h += cell(or_dash(row.params)) + cell(or_dash(row.quant)) + cell(format_bytes(row.size_bytes)) +
             cell(format_bytes(row.peak_memory_bytes)) + cell(opt_num(row.ms_per_token, "{:.1f}")) +
             cell(opt_num(row.tokens_per_s, "{:.1f}")) + cell(opt_num(thinking_tokens(row), "{:.0f}"));
        for (const auto& s : suites) h += accuracy_cell_html(row.run_for(s));
        h += "</tr>\n";
    }
    h += "</tbody>\n</table></div>\n";
    h += "<p class=\"note\">Accuracy is correct answers / answers graded, with the 95% Wilson interval (in %) below it. "
         "“—” marks a figure the run did not measure (runs graded with <code>retort grade</code> from outputs made "
         "elsewhere have no memory or speed). Memory is the peak resident set of the process; ms/token and tokens/s "
         "are single-stream generation figures.</p>\n";

    h += "<h2>Charts</h2>\n<div class=\"charts\">\n";
    h += "<figure id=\"fig-accuracy-memory\">" + render_scatter(accuracy_chart(rows, suites, true)) +
         "<figcaption>Each dot is one model on one suite; a grey line joins a model's suites. Up and to the left "
         "is better.</figcaption></figure>\n";
    h += "<figure id=\"fig-accuracy-latency\">" + render_scatter(accuracy_chart(rows, suites, false)) +
         "<figcaption>Time per generated token against accuracy: the price of a larger or less quantized model."
         "</figcaption></figure>\n";
    h += "<figure id=\"fig-thinking-tokens\">" + render_bars(thinking_chart(rows, suites)) +
         "<figcaption>Mean length of the reasoning block (&lt;think&gt;…&lt;/think&gt;) and of the final answer "
         "per suite.</figcaption></figure>\n";
    h += "</div>\n";

    h += "<h2>Runs</h2>\n<div class=\"table-wrap\"><table id=\"runs\">\n<thead><tr><th class=\"model\">Run</th><th class=\"model\">Suite</th>"
         "<th class=\"model\">Source</th><th>Items</th><th>Answers</th><th>Correct</th><th>Accuracy</th>"
         "<th>pass@k</th><th>Truncated</th><th>No answer</th><th class=\"model\">Created</th></tr></thead>\n<tbody>\n";
    for (const RunEntry& r : runs) {
        const RunSummary& s = r.summary;
        std::string pk;
        for (const auto& [k, v] : s.pass_at_k) pk += (pk.empty() ? "" : ", ") + fmt::format("@{} {}", k, format_percent(v));
        h += fmt::format("<tr><td class=\"model\">{}</td><td class=\"model\">{}</td><td class=\"model\">{}</td>"
                         "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                         "<td class=\"model\">{}</td></tr>\n",
                         xml_escape(r.dir), xml_escape(s.suite), xml_escape(s.source), s.n, s.n_samples, s.correct,
                         format_percent(s.accuracy), xml_escape(pk.empty() ? kDash : pk), s.n_truncated,
                         s.n_no_answer, xml_escape(s.created));
    }
    h += "</tbody>\n</table></div>\n</body>\n</html>\n";
    return h;
}

std::string render_report_markdown(const std::vector<RunEntry>& runs, const std::string& generated_at) {
    const auto rows = build_rows(runs);
    const auto suites = report_suites(runs);
    auto md = [](const std::string& s) { return replace_all(s, "|", "\\|"); };
    std::string m = "# retort report\n\n";
    m += fmt::format("{} runs, {} models, {} suites · generated {}\n\n", runs.size(), rows.size(), suites.size(),
                     generated_at);
    m += "| Model | Params | Quant | Size | Peak memory | ms/token | tokens/s | Thinking tokens |";
    for (const auto& s : suites) m += " " + md(s) + " |";
    m += "\n|---|---|---|---:|---:|---:|---:|---:|";
    for (size_t i = 0; i < suites.size(); ++i) m += "---:|";
    m += "\n";
    for (const ReportRow& row : rows) {
        m += "| " + md(row.label) + " | " + md(or_dash(row.params)) + " | " + md(or_dash(row.quant)) + " | " +
             format_bytes(row.size_bytes) + " | " + format_bytes(row.peak_memory_bytes) + " | " +
             opt_num(row.ms_per_token, "{:.1f}") + " | " + opt_num(row.tokens_per_s, "{:.1f}") + " | " +
             opt_num(thinking_tokens(row), "{:.0f}") + " |";
        for (const auto& s : suites) {
            const RunEntry* e = row.run_for(s);
            m += e ? fmt::format(" {} ({}–{}) |", format_percent(e->summary.accuracy), format_percent(e->summary.ci_low),
                                 format_percent(e->summary.ci_high))
                   : fmt::format(" {} |", kDash);
        }
        m += "\n";
    }
    m += "\nAccuracy: correct / answers graded (95% Wilson interval). “—”: not measured by that run.\n";
    return m;
}

}  // namespace retort::eval
