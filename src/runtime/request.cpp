#include "runtime/request.h"

namespace retort {

RequestStream::Update RequestStream::wait(std::chrono::milliseconds timeout) {
    Update u;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !pieces_.empty() || summary_.has_value(); });
    u.pieces.assign(std::make_move_iterator(pieces_.begin()), std::make_move_iterator(pieces_.end()));
    pieces_.clear();
    if (summary_) {
        u.done = true;
        u.summary = *summary_;
    }
    return u;
}

void RequestStream::push(TokenPiece piece) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        pieces_.push_back(std::move(piece));
    }
    cv_.notify_one();
}

void RequestStream::finish(RequestSummary summary) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (summary_) return;
        summary_ = std::move(summary);
    }
    cv_.notify_one();
}

bool RequestStream::finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return summary_.has_value();
}

}  // namespace retort
