// A small parser and evaluator for the LaTeX-ish expressions found in math answers
// (`\frac{3\sqrt{3}}{4}`, `2k+2`, `137 \frac{1}{2}`, `11\sqrt2`), so that answers can be
// compared by value: numerically, or at random points when they contain variables.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace retort::eval {

class MathExpr {
public:
    // Parses the whole string or returns nullopt. Accepts numbers, single-letter variables,
    // + - * / ^ !, \cdot \times \div, implicit multiplication, \frac{a}{b} (and \frac12),
    // \sqrt{x} \sqrt[n]{x}, \pi, \sin \cos \tan \ln \log \exp, ( ) and { } groups. An integer
    // directly followed by \frac is a mixed number (1\frac{4}{5} = 1.8), as MATH writes them.
    static std::optional<MathExpr> parse(std::string_view text);

    // Variables are 'a'-'z' then 'A'-'Z' (index 0-51).
    using Values = std::array<double, 52>;
    double eval(const Values& values) const;
    uint64_t variables() const { return variables_; }  // bit k set: variable k is used

    enum class Op : uint8_t { kNum, kVar, kAdd, kSub, kMul, kDiv, kPow, kNeg, kSqrt, kFact,
                              kSin, kCos, kTan, kLn, kLog, kExp };
    struct Node {
        Op op;
        int a = -1, b = -1;  // child node indices
        double value = 0;    // kNum: the number; kVar: variable index
    };

private:
    friend class MathParser;
    std::vector<Node> nodes_;
    int root_ = -1;
    uint64_t variables_ = 0;
};

// |a - b| <= abs_tol + rel_tol * max(|a|, |b|), with NaN never close.
bool nearly_equal(double a, double b, double rel_tol, double abs_tol = 1e-9);

// True when both strings parse and agree: by value when neither has variables, else at
// several fixed pseudo-random points (all finite points must agree, at least 3 of them).
// Strings with a run of 3+ plain letters (words such as "east") are never parsed.
bool expressions_equal(std::string_view a, std::string_view b, double rel_tol = 1e-6);

// The value of a variable-free expression, or nullopt.
std::optional<double> evaluate_constant(std::string_view text);

}  // namespace retort::eval
