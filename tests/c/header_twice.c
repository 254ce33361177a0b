/* The header compiles cleanly as C99 and as C++ and can be included twice. */
#include "oss_resume.h"
#include "oss_resume.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", OSSR_VERSION_MAJOR, OSSR_VERSION_MINOR,
             OSSR_VERSION_PATCH);
    if (strcmp(expected, ossr_version()) != 0) {
        fprintf(stderr, "header says %s, library says %s\n", expected, ossr_version());
        return 1;
    }
    printf("header %s matches library %s\n", expected, ossr_version());
    return 0;
}
