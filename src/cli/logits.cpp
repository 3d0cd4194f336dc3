// `retort logits -m MODEL --ids 1,2,3 [--top K] [--full-last]`: evaluates the ids as one prompt
// and prints, per position, the top-K (id, log-prob) pairs; our debugging window into the
// engine. The JSON format is stable: {"positions":[{"pos":0,"top":[[id,logprob],...]},...],
// "last_logits":[...]} (last_logits only with --full-last).
#include "cli/commands.h"
#include "cli/common.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace retort::cli {

namespace {

struct LogitsFlags {
    EngineFlags engine;
    std::string ids;
    int top = 10;
    bool full_last = false;
};

int run_logits(const LogitsFlags& fl) {
    auto ids = parse_id_list(fl.ids);
    if (!ids.ok()) return fail("logits", ids.error().message);
    if (ids->empty()) return fail("logits", "--ids is empty");
    auto engine = load_engine(fl.engine);
    if (!engine.ok()) return fail("logits", engine.error().message);
    Engine& e = *engine.value();
    const int64_t n_vocab = e.n_vocab();
    for (int32_t id : ids.value())
        if (id < 0 || id >= n_vocab)
            return fail("logits", fmt::format("token id {} is outside the vocabulary [0, {})", id, n_vocab));
    if ((int64_t)ids->size() > e.n_ctx())
        return fail("logits", fmt::format("{} ids do not fit the context of {} (use --ctx)", ids->size(), e.n_ctx()));

    Batch batch;
    for (size_t i = 0; i < ids->size(); ++i) batch.add(ids.value()[i], (int32_t)i, 0, true);
    std::vector<float> logits;
    if (Status st = e.step(batch, logits); !st.ok()) return fail("logits", st.error().message);

    const int k = (int)std::min<int64_t>(fl.top, n_vocab);
    nlohmann::ordered_json out;
    out["positions"] = nlohmann::json::array();
    std::vector<int32_t> order((size_t)n_vocab);
    for (size_t p = 0; p < ids->size(); ++p) {
        const float* l = &logits[p * (size_t)n_vocab];
        // log-softmax in double: logprob = l - max - log(sum(exp(l - max)))
        const float mx = *std::max_element(l, l + n_vocab);
        double sum = 0;
        for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp((double)l[i] - mx);
        const double lse = mx + std::log(sum);
        std::iota(order.begin(), order.end(), 0);
        // Highest logit first, lower id first on ties (llama.cpp's reference order).
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int32_t a, int32_t b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
        nlohmann::ordered_json top = nlohmann::json::array();
        for (int i = 0; i < k; ++i) top.push_back({order[(size_t)i], (double)l[order[(size_t)i]] - lse});
        out["positions"].push_back({{"pos", p}, {"top", top}});
    }
    if (fl.full_last) {
        const float* l = &logits[(ids->size() - 1) * (size_t)n_vocab];
        out["last_logits"] = std::vector<float>(l, l + n_vocab);
    }
    fmt::print("{}\n", out.dump());
    return 0;
}

}  // namespace

void register_logits(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("logits", "Evaluate token ids and print top log-probs per position as JSON");
    auto fl = std::make_shared<LogitsFlags>();
    fl->engine.add_to(sub, /*model_required=*/false);
    sub->add_option("--ids", fl->ids, "Comma-separated token ids")->required();
    sub->add_option("--top", fl->top, "Entries per position")->check(CLI::Range(1, 1 << 20));
    sub->add_flag("--full-last", fl->full_last, "Also print every logit of the last position");
    commands.push_back({sub, [fl] { return run_logits(*fl); }});
}

}  // namespace retort::cli
