/**
 * `@hvkit/svm`: AMD SVM for the hvkit x86 core: the VMCB, VMRUN/VMLOAD/VMSAVE, intercepts,
 * #VMEXIT with EXITINFO, GIF, NPT and ASIDs.
 *
 * Nothing is exported yet: the frontend arrives with the SVM issue.
 */
export {};
