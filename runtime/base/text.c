#include "runtime/base/text.h"

#include <string.h>

int gr_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 1000;
    int row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void gr_suggest_init(struct gr_suggest *s, const char *name) {
    s->name = name;
    s->best = NULL;
    s->best_dist = 1000;
}

void gr_suggest_offer(struct gr_suggest *s, const char *candidate) {
    if (!candidate) return;
    int d = gr_edit_distance(s->name, candidate);
    if (d < s->best_dist) {
        s->best_dist = d;
        s->best = candidate;
    }
}

const char *gr_suggest_best(const struct gr_suggest *s) {
    /* a typo is a few edits and not most of the word */
    int len = (int)strlen(s->name);
    int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    return s->best_dist <= limit ? s->best : NULL;
}

const char *gr_closest(const char *name, const char *const *candidates, int n) {
    struct gr_suggest s;
    gr_suggest_init(&s, name);
    for (int i = 0; i < n; i++) gr_suggest_offer(&s, candidates[i]);
    return gr_suggest_best(&s);
}
