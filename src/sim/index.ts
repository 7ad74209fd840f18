export { buildProject, type FlagPlan, type Project, type ProjectOptions } from './project.js'
export { generateTraffic, type SimEvent, type TrafficOptions } from './traffic.js'
export { TruthRecorder, type FlagTruth, type Truth } from './truth.js'
export { DEFECTS, DEFECT_IDS, parseDefectList, type DefectId, type DefectRequest } from './defects.js'
