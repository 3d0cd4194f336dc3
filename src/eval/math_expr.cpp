// Recursive-descent parser and evaluator for answer expressions (see math_expr.h).
// Grammar, loosest first:
//   expr    := ['+'|'-'] term {('+'|'-') term}
//   term    := unary {('*'|'\cdot'|'\times'|'/'|'\div') unary | <implicit> postfix}
//   unary   := '-' unary | '+' unary | postfix
//   postfix := primary ['^' exponent] ['!']
//   primary := number | letter | '(' expr ')' | '{' expr '}' | \frac A A | \sqrt[[n]] A
//              | \pi | \sin A | ...     where A is '{' expr '}' or a single digit or letter
#include "eval/math_expr.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

namespace retort::eval {

class MathParser {
public:
    explicit MathParser(std::string_view s) : s_(s) {}

    std::optional<MathExpr> run() {
        const int root = expr(0);
        skip_ws();
        if (root < 0 || failed_ || pos_ != s_.size()) return std::nullopt;
        out_.root_ = root;
        return std::move(out_);
    }

private:
    using Op = MathExpr::Op;
    static constexpr int kMaxDepth = 64;  // nesting guard: hostile input must not blow the stack

    int add(Op op, int a = -1, int b = -1, double value = 0) {
        if (a < 0 && op != Op::kNum && op != Op::kVar) failed_ = true;
        out_.nodes_.push_back({op, a, b, value});
        return static_cast<int>(out_.nodes_.size()) - 1;
    }

    // Skips blanks and LaTeX spacing / sizing commands that carry no value.
    void skip_ws() {
        for (;;) {
            while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
            if (pos_ + 1 < s_.size() && s_[pos_] == '\\' && std::strchr(",;:! ", s_[pos_ + 1])) {
                pos_ += 2;
                continue;
            }
            const std::string_view cmd = peek_command();
            if (cmd == "left" || cmd == "right" || cmd == "displaystyle" || cmd == "big" ||
                cmd == "Big" || cmd == "bigl" || cmd == "bigr") {
                pos_ += 1 + cmd.size();
                continue;
            }
            return;
        }
    }

    // The name of the command at pos_ ("frac" for "\frac"), or empty.
    std::string_view peek_command() const {
        if (pos_ >= s_.size() || s_[pos_] != '\\') return {};
        size_t e = pos_ + 1;
        while (e < s_.size() && std::isalpha(static_cast<unsigned char>(s_[e]))) ++e;
        return s_.substr(pos_ + 1, e - pos_ - 1);
    }

    bool eat(char c) {
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    bool eat_command(std::string_view name) {
        skip_ws();
        if (peek_command() == name) {
            pos_ += 1 + name.size();
            return true;
        }
        return false;
    }

    int expr(int depth) {
        if (depth > kMaxDepth) return fail();
        skip_ws();
        int lhs;
        if (eat('-')) lhs = add(Op::kNeg, term(depth + 1));
        else {
            eat('+');
            lhs = term(depth + 1);
        }
        for (;;) {
            if (eat('+')) lhs = add(Op::kAdd, lhs, term(depth + 1));
            else if (eat('-')) lhs = add(Op::kSub, lhs, term(depth + 1));
            else return lhs;
            if (failed_) return -1;
        }
    }

    int term(int depth) {
        if (depth > kMaxDepth) return fail();
        skip_ws();
        const size_t start = pos_;
        int lhs = unary(depth + 1);
        // An integer written right before \frac is a mixed number: 137 \frac{1}{2} = 137.5.
        const bool plain_integer = lhs >= 0 && out_.nodes_[lhs].op == Op::kNum &&
                                   s_.substr(start, pos_ - start).find('.') == std::string_view::npos;
        skip_ws();
        if (plain_integer && peek_command() == "frac") lhs = add(Op::kAdd, lhs, postfix(depth + 1));
        for (;;) {
            if (failed_) return -1;
            if (eat('*') || eat_command("cdot") || eat_command("times")) lhs = add(Op::kMul, lhs, unary(depth + 1));
            else if (eat('/') || eat_command("div")) lhs = add(Op::kDiv, lhs, unary(depth + 1));
            else if (starts_primary()) lhs = add(Op::kMul, lhs, postfix(depth + 1));
            else return lhs;
        }
    }

    int unary(int depth) {
        if (depth > kMaxDepth) return fail();
        if (eat('-')) return add(Op::kNeg, unary(depth + 1));
        if (eat('+')) return unary(depth + 1);
        return postfix(depth + 1);
    }

    bool starts_primary() {
        skip_ws();
        if (pos_ >= s_.size()) return false;
        const char c = s_[pos_];
        if (std::isdigit(static_cast<unsigned char>(c)) || std::isalpha(static_cast<unsigned char>(c)) ||
            c == '(' || c == '{' || c == '.')
            return true;
        const std::string_view cmd = peek_command();
        return cmd == "frac" || cmd == "sqrt" || cmd == "pi" || function_op(cmd).has_value();
    }

    static std::optional<Op> function_op(std::string_view cmd) {
        if (cmd == "sin") return Op::kSin;
        if (cmd == "cos") return Op::kCos;
        if (cmd == "tan") return Op::kTan;
        if (cmd == "ln") return Op::kLn;
        if (cmd == "log") return Op::kLog;
        if (cmd == "exp") return Op::kExp;
        return std::nullopt;
    }

    int postfix(int depth) {
        if (depth > kMaxDepth) return fail();
        int base = primary(depth + 1);
        if (eat('^')) base = add(Op::kPow, base, exponent(depth + 1));
        if (eat('!')) base = add(Op::kFact, base);
        return base;
    }

    // x^2, x^{n+1}, x^-1, 2^(k): the exponent binds tighter than implicit multiplication.
    int exponent(int depth) {
        if (depth > kMaxDepth) return fail();
        if (eat('-')) return add(Op::kNeg, exponent(depth + 1));
        return postfix(depth + 1);
    }

    // The argument of \frac or \sqrt: a braced group, or a single character (\frac12).
    int argument(int depth) {
        skip_ws();
        if (pos_ >= s_.size()) return fail();
        const char c = s_[pos_];
        if (c == '{') return primary(depth + 1);
        if (std::isdigit(static_cast<unsigned char>(c))) {
            ++pos_;
            return add(Op::kNum, -1, -1, c - '0');
        }
        if (std::isalpha(static_cast<unsigned char>(c))) return primary(depth + 1);
        if (c == '\\') return primary(depth + 1);
        return fail();
    }

    int primary(int depth) {
        if (depth > kMaxDepth) return fail();
        skip_ws();
        if (pos_ >= s_.size()) return fail();
        const char c = s_[pos_];
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
        if (std::isalpha(static_cast<unsigned char>(c))) {
            ++pos_;
            const int index = std::islower(static_cast<unsigned char>(c)) ? c - 'a' : 26 + (c - 'A');
            out_.variables_ |= uint64_t{1} << index;
            return add(Op::kVar, -1, -1, index);
        }
        if (c == '(' || c == '{') {
            ++pos_;
            const int inner = expr(depth + 1);
            if (!eat(c == '(' ? ')' : '}')) return fail();
            return inner;
        }
        const std::string_view cmd = peek_command();
        if (cmd.empty()) return fail();
        pos_ += 1 + cmd.size();
        if (cmd == "frac") {
            const int num = argument(depth + 1);
            const int den = argument(depth + 1);
            return add(Op::kDiv, num, den);
        }
        if (cmd == "sqrt") {
            if (eat('[')) {
                const int n = expr(depth + 1);
                if (!eat(']')) return fail();
                const int x = argument(depth + 1);
                return add(Op::kPow, x, add(Op::kDiv, add(Op::kNum, -1, -1, 1.0), n));
            }
            return add(Op::kSqrt, argument(depth + 1));
        }
        if (cmd == "pi") return add(Op::kNum, -1, -1, M_PI);
        if (auto op = function_op(cmd)) {
            skip_ws();
            const int arg = (pos_ < s_.size() && s_[pos_] == '(') ? primary(depth + 1) : postfix(depth + 1);
            return add(*op, arg);
        }
        return fail();
    }

    int number() {
        const size_t start = pos_;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        }
        const std::string text(s_.substr(start, pos_ - start));
        if (text == ".") return fail();
        return add(Op::kNum, -1, -1, std::strtod(text.c_str(), nullptr));
    }

    int fail() {
        failed_ = true;
        return -1;
    }

    std::string_view s_;
    size_t pos_ = 0;
    bool failed_ = false;
    MathExpr out_;
};

std::optional<MathExpr> MathExpr::parse(std::string_view text) {
    if (text.size() > 4096) return std::nullopt;
    return MathParser(text).run();
}

double MathExpr::eval(const Values& values) const {
    // Children always precede their parent in nodes_, so one forward pass evaluates all.
    std::vector<double> v(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        const double a = n.a >= 0 ? v[n.a] : 0, b = n.b >= 0 ? v[n.b] : 0;
        switch (n.op) {
            case Op::kNum: v[i] = n.value; break;
            case Op::kVar: v[i] = values[static_cast<size_t>(n.value)]; break;
            case Op::kAdd: v[i] = a + b; break;
            case Op::kSub: v[i] = a - b; break;
            case Op::kMul: v[i] = a * b; break;
            case Op::kDiv: v[i] = a / b; break;
            case Op::kPow: v[i] = std::pow(a, b); break;
            case Op::kNeg: v[i] = -a; break;
            case Op::kSqrt: v[i] = std::sqrt(a); break;
            case Op::kFact: v[i] = (a >= 0 && a <= 170 && a == std::floor(a)) ? std::tgamma(a + 1) : NAN; break;
            case Op::kSin: v[i] = std::sin(a); break;
            case Op::kCos: v[i] = std::cos(a); break;
            case Op::kTan: v[i] = std::tan(a); break;
            case Op::kLn: v[i] = std::log(a); break;
            case Op::kLog: v[i] = std::log10(a); break;
            case Op::kExp: v[i] = std::exp(a); break;
        }
    }
    return root_ >= 0 ? v[root_] : NAN;
}

bool nearly_equal(double a, double b, double rel_tol, double abs_tol) {
    if (!std::isfinite(a) || !std::isfinite(b)) return false;
    return std::fabs(a - b) <= abs_tol + rel_tol * std::max(std::fabs(a), std::fabs(b));
}

namespace {

// Words ("east", "even", "Navin") would parse as products of letters; refuse them.
bool has_word(std::string_view s) {
    int run = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\') {  // skip a command name
            ++i;
            while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
            --i;
            run = 0;
            continue;
        }
        run = std::isalpha(static_cast<unsigned char>(s[i])) ? run + 1 : 0;
        if (run >= 3) return true;
    }
    return false;
}

}  // namespace

bool expressions_equal(std::string_view a, std::string_view b, double rel_tol) {
    if (has_word(a) || has_word(b)) return false;
    const auto ea = MathExpr::parse(a);
    if (!ea) return false;
    const auto eb = MathExpr::parse(b);
    if (!eb) return false;
    const uint64_t vars = ea->variables() | eb->variables();
    MathExpr::Values values{};
    if (vars == 0) return nearly_equal(ea->eval(values), eb->eval(values), rel_tol);
    // Fixed points in (0.3, 1.7), away from integers and from each other: a fixed seed keeps
    // grading reproducible.
    uint64_t state = 0x9E3779B97F4A7C15ull;
    int agreed = 0;
    for (int trial = 0; trial < 8; ++trial) {
        for (double& x : values) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            x = 0.3 + 1.4 * static_cast<double>(state >> 11) / static_cast<double>(1ull << 53);
        }
        const double va = ea->eval(values), vb = eb->eval(values);
        if (!std::isfinite(va) && !std::isfinite(vb)) continue;
        if (!nearly_equal(va, vb, rel_tol)) return false;
        ++agreed;
    }
    return agreed >= 3;
}

std::optional<double> evaluate_constant(std::string_view text) {
    const auto e = MathExpr::parse(text);
    if (!e || e->variables() != 0) return std::nullopt;
    const double v = e->eval(MathExpr::Values{});
    if (!std::isfinite(v)) return std::nullopt;
    return v;
}

}  // namespace retort::eval
