/**
 * `@hvkit/machine`: an emulated x86-64 PC assembled from the hvkit packages.
 *
 * Nothing is exported yet: the board arrives with the x86 core and PC platform issues.
 */
export {};
