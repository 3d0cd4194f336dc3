// Model: one GGUF file opened, its hyper-parameters read and every weight bound. Immutable
// after load, so several engines (or threads) may share it.
#pragma once

#include "gguf/gguf.h"
#include "model/config.h"
#include "model/weights.h"
#include "util/error.h"

#include <memory>
#include <string>

namespace retort {

class Model {
public:
    // pack_for: repack the matrices that table has packed kernels for (pack_weights); the model
    // may then only be run with that table. nullptr keeps every matrix in the file's layout.
    static Result<std::unique_ptr<Model>> load(const std::string& path, const KernelTable* pack_for = nullptr);
    // Uses an already opened file (shared with the tokenizer).
    static Result<std::unique_ptr<Model>> load(std::shared_ptr<const GgufFile> file,
                                               const KernelTable* pack_for = nullptr);

    const GgufFile& file() const { return *file_; }
    std::shared_ptr<const GgufFile> file_ptr() const { return file_; }
    const ModelConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }

private:
    std::shared_ptr<const GgufFile> file_;
    ModelConfig config_;
    ModelWeights weights_;
};

}  // namespace retort
