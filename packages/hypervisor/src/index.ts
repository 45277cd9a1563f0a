/**
 * `@hvkit/hypervisor`: a reference type-1 hypervisor that owns the emulated machine and runs
 * isolated guests on VT-x or SVM through one vendor-neutral backend interface.
 *
 * Nothing is exported yet: it arrives with the hypervisor issue.
 */
export {};
