// `retort tokenize` / `retort detokenize`: the tokenizer alone, on any GGUF with a vocab
// (vocab-only files included).
#include "cli/commands.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"

#include <fmt/core.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace retort::cli {

namespace {

struct TokenizeFlags {
    std::string model, text, file;
    bool no_bos = false, special = false;
    CLI::Option* text_opt = nullptr;
    CLI::Option* file_opt = nullptr;
};

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& model, std::unique_ptr<GgufFile>& keep) {
    auto f = open_model_file(model);
    if (!f.ok()) return f.error();
    keep = std::move(f.value());
    return Tokenizer::from_gguf(*keep);
}

int run_tokenize(const TokenizeFlags& fl) {
    if (fl.text_opt->count() == fl.file_opt->count())
        return fail("tokenize", "give exactly one of TEXT or -f FILE");
    std::string text = fl.text;
    if (!fl.file.empty()) {
        std::stringstream ss;
        if (fl.file == "-") {
            ss << std::cin.rdbuf();
        } else {
            std::ifstream in(fl.file, std::ios::binary);
            if (!in) return fail("tokenize", fmt::format("cannot read '{}'", fl.file));
            ss << in.rdbuf();
        }
        text = ss.str();
    }
    std::unique_ptr<GgufFile> keep;
    auto tok = load_tokenizer(fl.model, keep);
    if (!tok.ok()) return fail("tokenize", tok.error().message);
    const auto ids = tok.value()->encode(text, !fl.no_bos && tok.value()->add_bos_default(), fl.special);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    fmt::print("{}]\n", out);
    return 0;
}

int run_detokenize(const std::string& model, const std::vector<std::string>& items) {
    std::string joined;
    for (const auto& s : items) joined += (joined.empty() ? "" : ",") + s;
    auto ids = parse_id_list(joined);
    if (!ids.ok()) return fail("detokenize", ids.error().message);
    std::unique_ptr<GgufFile> keep;
    auto tok = load_tokenizer(model, keep);
    if (!tok.ok()) return fail("detokenize", tok.error().message);
    for (int32_t id : ids.value())
        if (id < 0 || id >= tok.value()->n_vocab())
            return fail("detokenize", fmt::format("token id {} is outside the vocabulary [0, {})", id, tok.value()->n_vocab()));
    const std::string text = tok.value()->decode(ids.value(), /*remove_special=*/false, /*unparse_special=*/true);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
}

}  // namespace

void register_tokenize(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
    auto fl = std::make_shared<TokenizeFlags>();
    sub->add_option("-m,--model", fl->model, "GGUF file with a vocabulary (default: the embedded model)");
    fl->text_opt = sub->add_option("text", fl->text, "Text to tokenize");
    fl->file_opt = sub->add_option("-f,--file", fl->file, "Read the text from a file ('-' for standard input)");
    sub->add_flag("--no-bos", fl->no_bos, "Do not add the BOS token");
    sub->add_flag("--special", fl->special, "Parse special-token texts (<｜User｜> ...) as tokens");
    commands.push_back({sub, [fl] { return run_tokenize(*fl); }});

    CLI::App* de = app.add_subcommand("detokenize", "Print the text of token ids");
    auto model = std::make_shared<std::string>();
    auto items = std::make_shared<std::vector<std::string>>();
    de->add_option("-m,--model", *model, "GGUF file with a vocabulary (default: the embedded model)");
    de->add_option("ids", *items, "Token ids (space or comma separated)")->required();
    commands.push_back({de, [model, items] { return run_detokenize(*model, *items); }});
}

}  // namespace retort::cli
