/* Suggestions for a mistyped name ("did you mean"), by edit distance. One
 * accumulator serves every place a name is looked up: config keys, node
 * names, ops, optimizers, commands and options offer their candidates one
 * by one, with no list to build.
 *
 *     struct gr_suggest sg;
 *     gr_suggest_init(&sg, typed);
 *     for (...) gr_suggest_offer(&sg, candidate);
 *     const char *near = gr_suggest_best(&sg);   // NULL: nothing close */
#ifndef GR_BASE_TEXT_H
#define GR_BASE_TEXT_H

struct gr_suggest {
    const char *name; /* what was typed */
    const char *best; /* the closest candidate so far */
    int best_dist;
};

void gr_suggest_init(struct gr_suggest *s, const char *name);
void gr_suggest_offer(struct gr_suggest *s, const char *candidate);
/* The closest candidate if it is close enough to be a typo (a few edits,
 * never most of the word), else NULL. */
const char *gr_suggest_best(const struct gr_suggest *s);

/* Levenshtein distance; 1000 for names over 64 bytes. */
int gr_edit_distance(const char *a, const char *b);
/* gr_suggest over an array of n candidates. */
const char *gr_closest(const char *name, const char *const *candidates, int n);

#endif
